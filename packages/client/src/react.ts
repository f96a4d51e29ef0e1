// React binding: the client's signed-in state as a hook (useSyncExternalStore, so every
// component sees the same state, including changes made by other tabs).
import { useSyncExternalStore } from 'react'
import type { AuthdClient, AuthState } from './index.js'

/** The client's current state; re-renders when this tab or another one signs in or out. */
export function useAuthd (client: AuthdClient): AuthState {
  return useSyncExternalStore(
    (onChange) => client.subscribe(onChange),
    () => client.state,
    () => client.state
  )
}
