import { error } from '@sveltejs/kit'
import type { PageServerLoad } from './$types'

// hooks.server.ts has already sent signed-out visitors of the (protected) group to /login.
export const load: PageServerLoad = ({ locals }) => {
  if (locals.user === null) error(401, 'Not signed in')
  return { user: locals.user }
}
