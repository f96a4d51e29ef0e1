// The rules of a key set, as pure functions of the keys and a time:
// - the active key (the one that signs) is the newest whose activatesAt has passed;
// - a pending key (activatesAt in the future) is published but signs nothing yet;
// - a retiring key signed until its successor activated; tokens it signed live at most
//   ACCESS_TOKEN_TTL longer, so after that (plus clock skew) it may be pruned.
import type { AccessKey } from './access-key.js'

/** Seconds a verifier may cache the JWKS (its Cache-Control max-age). */
export const JWKS_MAX_AGE = 300
/** Seconds allowed for clocks of different hosts to disagree. */
export const CLOCK_SKEW = 60

export type KeyState = 'active' | 'pending' | 'retiring'

export interface KeyStatus {
  key: AccessKey
  state: KeyState
  /** For a retiring key: when its successor took over signing. */
  retiredAt?: Date
}

/** Oldest first: by activatesAt, then createdAt, then kid (so every instance agrees). */
export function byActivation (keys: readonly AccessKey[]): AccessKey[] {
  return [...keys].sort((a, b) =>
    a.activatesAt.getTime() - b.activatesAt.getTime() ||
    a.createdAt.getTime() - b.createdAt.getTime() ||
    (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0))
}

/** The key that signs at `now`: the newest one already activated. */
export function activeKey (keys: readonly AccessKey[], now: number): AccessKey | undefined {
  return byActivation(keys).filter((k) => k.activatesAt.getTime() <= now).at(-1)
}

export function keyStatuses (keys: readonly AccessKey[], now: number): KeyStatus[] {
  const sorted = byActivation(keys)
  const active = activeKey(sorted, now)
  return sorted.map((key, i) => {
    if (key === active) return { key, state: 'active' }
    if (key.activatesAt.getTime() > now) return { key, state: 'pending' }
    return { key, state: 'retiring', retiredAt: (sorted[i + 1] as AccessKey).activatesAt }
  })
}

/** Retiring keys that no live token can carry: replaced more than ACCESS_TOKEN_TTL + skew ago. */
export function prunableKeys (keys: readonly AccessKey[], now: number, accessTtlSeconds: number): AccessKey[] {
  const window = (accessTtlSeconds + CLOCK_SKEW) * 1000
  return keyStatuses(keys, now)
    .filter((s) => s.state === 'retiring' && now - (s.retiredAt as Date).getTime() > window)
    .map((s) => s.key)
}

/** When a prunable key may go: the earliest moment no live token can carry it. */
export function prunableAt (retiredAt: Date, accessTtlSeconds: number): Date {
  return new Date(retiredAt.getTime() + (accessTtlSeconds + CLOCK_SKEW) * 1000)
}
