// The one check behind every route that acts for the holder of an access token: the token
// proves who signed in and when, but not that the user is still active or the session still
// alive (a logout, a revoked session or a deactivation happens after the token was signed).
import { AppError } from '../errors.js'
import type { LiveUserRepository } from '../repositories/live-users.js'
import type { User } from '../repositories/users.js'

/** The token's user, read once; 401 token_invalid when the user is inactive or gone or the session ended. */
export async function loadLiveUser (liveUsers: LiveUserRepository, claims: { sub: string, sid: string }): Promise<User> {
  const user = await liveUsers.findLive(claims.sub, claims.sid)
  if (user === null) throw new AppError('token_invalid', 'The session of this token has ended')
  return user
}
