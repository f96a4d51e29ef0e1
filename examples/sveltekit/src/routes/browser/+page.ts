// The in-browser variant: this page talks to authd from the browser (the browser endpoints,
// authd's own cookies), so it is not rendered on the server.
export const ssr = false
