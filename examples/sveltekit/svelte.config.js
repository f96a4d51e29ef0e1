import adapter from '@sveltejs/adapter-node'

/** @type {import('@sveltejs/kit').Config} */
export default {
  kit: {
    // `npm run build` writes a standalone Node server to build/ (run it with `node build`).
    adapter: adapter()
    // csrf.checkOrigin stays at its default (true): SvelteKit refuses a form POST whose Origin
    // is not this app's own. That check is the CSRF defence of the login, register and logout
    // actions, so the app needs no CSRF token of its own.
  }
}
