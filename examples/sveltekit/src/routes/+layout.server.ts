import type { LayoutServerLoad } from './$types'

// The user worked out by hooks.server.ts, for every page (the user object only: tokens stay in
// the server's cookies).
export const load: LayoutServerLoad = ({ locals }) => ({ user: locals.user })
