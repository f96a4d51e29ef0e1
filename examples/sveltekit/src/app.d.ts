import type { User } from '$lib/server/authd'

// See https://svelte.dev/docs/kit/types#app.d.ts
declare global {
  namespace App {
    interface Locals {
      /** The signed-in user (from authd's GET /v1/users/me), or null. Set by hooks.server.ts. */
      user: User | null
    }
    interface PageData {
      user: User | null
    }
  }
}

export {}
