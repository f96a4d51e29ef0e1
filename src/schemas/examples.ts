// Example values for the OpenAPI document (`examples` of the schemas). test/store-independent/routes/openapi.test.ts
// checks each example against its schema. The tokens are shortened, not real: none verifies.

export const EXAMPLE_USER = {
  id: 'bca7ec7f-5c7a-4de9-b0a0-68f952b9bec1',
  email: 'ada@example.com',
  username: 'ada',
  fullName: 'Ada Lovelace',
  bio: '',
  birthDate: null,
  roles: [],
  emailVerified: true,
  isActive: true,
  createdAt: '2026-11-25T13:07:25.381Z',
  updatedAt: '2026-11-25T13:07:25.531Z',
  lastLoginAt: '2026-11-25T13:07:25.513Z'
}

export const EXAMPLE_PASSWORD = 'correct horse battery staple'
export const EXAMPLE_ACCESS = 'eyJhbGciOiJSUzI1NiIsImtpZCI6IjRmMWMiLCJ0eXAiOiJhdCtqd3QifQ.eyJzdWIiOiJiY2E3ZWM3ZiJ9.c2lnbmF0dXJl'
export const EXAMPLE_REFRESH = 'eyJhbGciOiJIUzI1NiIsInR5cCI6InJ0K2p3dCJ9.eyJzdWIiOiJiY2E3ZWM3ZiJ9.c2lnbmF0dXJl'
export const EXAMPLE_CSRF = 'Rk1s0yV6m3q3q1C7bJ3pW3lQ2o2gX9yQm5bWkq0T0vA'
export const EXAMPLE_DEVICE_TOKEN = 'eyJhbGciOiJIUzI1NiIsInR5cCI6ImRldmljZStqd3QifQ.eyJzdWIiOiJiY2E3ZWM3ZiJ9.c2lnbmF0dXJl'

export const EXAMPLE_APP_TOKENS = { tokenType: 'Bearer', access: EXAMPLE_ACCESS, accessExpiresIn: 300, refresh: EXAMPLE_REFRESH, refreshExpiresIn: 86400 }
export const EXAMPLE_BROWSER_TOKENS = { tokenType: 'Bearer', access: EXAMPLE_ACCESS, accessExpiresIn: 300, csrfToken: EXAMPLE_CSRF }

export const EXAMPLE_SESSION = {
  id: '0b6f5d1c-27f4-4d0e-9a0e-3c2f1b9d8e7a',
  createdAt: '2026-11-25T13:07:25.513Z',
  lastUsedAt: '2026-11-25T14:02:11.208Z',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
  ip: '203.0.113.7',
  current: true
}

export const EXAMPLE_IDENTITY = {
  id: '2d7c1f0e-8a4b-4b6e-9c3d-5e1f7a9b0c2d',
  provider: 'google',
  subject: '110169484474386276334',
  email: 'ada@example.com',
  createdAt: '2026-11-28T09:30:00.000Z'
}
