// Svelte / SvelteKit binding: the client's signed-in state as a readable store
// (`$authState` in components). Create the client in the browser only (`browser` from
// `$app/environment`): the access token must never be shared between visitors of an SSR server.
import { readable, type Readable } from 'svelte/store'
import type { AuthdClient, AuthState } from './index.js'

/** A readable store of the client's state; it follows this tab and the others. */
export function authStore (client: AuthdClient): Readable<AuthState> {
  return readable<AuthState>(client.state, (set) => client.subscribe(set))
}
