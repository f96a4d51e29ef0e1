// Runs for every request SvelteKit serves (pages, their data requests and form actions; not the
// static assets): works out who the visitor is, refreshing authd's tokens when needed, and keeps
// signed-out visitors out of the (protected) route group.
import { error, redirect, type Handle } from '@sveltejs/kit'
import { AuthdProblem, AuthdUnavailable } from '$lib/server/authd'
import { currentUser } from '$lib/server/session'

export const handle: Handle = async ({ event, resolve }) => {
  try {
    event.locals.user = await currentUser(event)
  } catch (cause) {
    if (cause instanceof AuthdUnavailable) error(503, 'The sign-in service is unavailable. Try again shortly.')
    if (cause instanceof AuthdProblem && cause.status === 429) error(429, 'Too many requests. Try again shortly.')
    throw cause
  }

  // Guarding here rather than in a layout's load also covers the group's form actions and
  // endpoints, and cannot be skipped by a client-side navigation that reuses a layout's data.
  if (event.route.id?.startsWith('/(protected)') === true && event.locals.user === null) {
    redirect(303, `/login?redirectTo=${encodeURIComponent(event.url.pathname + event.url.search)}`)
  }

  return await resolve(event)
}
