// SESSION_MAX_LIFETIME as SQL: a session is alive only while younger than the lifetime, counted
// from its login (created_at) by the database's clock. One definition for the statements that
// decide it (rotation, the grace-window replay, the live-session read), so they cannot drift.

/** True while session `alias` is within `seconds` (a placeholder such as `$6`) of its login. */
export const withinLifetime = (alias: string, seconds: string): string =>
  `(${alias}.created_at > now() - make_interval(secs => ${seconds}::float8))`

/** When session `alias` reaches its lifetime. */
export const lifetimeEnd = (alias: string, seconds: string): string =>
  `(${alias}.created_at + make_interval(secs => ${seconds}::float8))`
