// The live access-key set of a running authd. It signs with the active key, finds any key of
// the set by kid for verification, publishes every public key (pending ones included, so
// verifiers have them cached before they sign) and re-reads its source every
// SIGNING_KEYS_RELOAD_INTERVAL seconds when the files changed — so `authd keys rotate` on a
// shared volume reaches every instance without a restart. Key files others may read are refused
// (production) or warned about, at start and at every reload (file-mode.ts).
import type { FastifyBaseLogger } from 'fastify'
import { ConfigError } from '../config.js'
import type { AccessKey, AccessAlg, PublicJwk } from './access-key.js'
import { enforceKeyFileModes } from './file-mode.js'
import { activeKey } from './key-set.js'
import { keyFilesOf, keysFingerprint, readKeys, type KeySource } from './key-sources.js'

export interface AccessKeyStore {
  /** The key that signs now. */
  signingKey (now?: number): AccessKey
  /** A key of the set by kid (verification); undefined when unknown. */
  find (kid: string): AccessKey | undefined
  keys (): readonly AccessKey[]
  publicJwks (): { keys: PublicJwk[] }
  /** Re-reads the source if it changed; true when the set changed. A bad new set is logged and ignored. */
  reload (): Promise<boolean>
  close (): void
}

function assertSigns (keys: readonly AccessKey[], variable: string, now: number): void {
  if (activeKey(keys, now) === undefined) throw new ConfigError(`Invalid signing keys:\n  ${variable}: no key is active yet (every activatesAt is in the future)`)
}

interface MutableKeyStore { store: AccessKeyStore, replace (keys: readonly AccessKey[]): void }

/**
 * HS256 mode has exactly one key, and its kid is random per process (access-key.ts): a token
 * signed before a restart, or by another instance, names a kid this process never saw. There
 * is nothing to choose between, so every kid finds the one secret (its verifier accepts HS256
 * only, so an asymmetric token never passes through it).
 */
const singleHmacKey = (keys: readonly AccessKey[]) => keys.length === 1 && keys[0]?.alg === 'HS256' ? keys[0] : undefined

function keyStore (initial: readonly AccessKey[], reload: () => Promise<boolean>, close: () => void): MutableKeyStore {
  let keys = initial
  let byKid = new Map(keys.map((k) => [k.kid, k]))
  let hmacKey = singleHmacKey(keys)
  const store: AccessKeyStore = {
    signingKey (now = Date.now()) {
      const key = activeKey(keys, now)
      if (key === undefined) throw new Error('no active access-token signing key')
      return key
    },
    find: (kid) => byKid.get(kid) ?? hmacKey,
    keys: () => keys,
    publicJwks: () => ({ keys: keys.flatMap((k) => k.publicJwk === undefined ? [] : [k.publicJwk]) }),
    reload,
    close
  }
  return { store, replace (next) { keys = next; byKid = new Map(keys.map((k) => [k.kid, k])); hmacKey = singleHmacKey(keys) } }
}

/** A fixed set (tests). */
export function staticKeyStore (keys: readonly AccessKey[]): AccessKeyStore {
  return keyStore(keys, async () => false, () => {}).store
}

export interface KeyStoreOptions {
  source: KeySource
  /** ACCESS_TOKEN_ALG: the algorithm of a first key created in the development directory. */
  alg: AccessAlg
  /** SIGNING_KEYS_RELOAD_INTERVAL in seconds; 0 = never re-read. */
  reloadInterval: number
  log: FastifyBaseLogger
  /** Key files others may read: 'refuse' (NODE_ENV=production) or 'warn' (the default). */
  fileModes?: 'refuse' | 'warn'
}

export async function openKeyStore (options: KeyStoreOptions): Promise<AccessKeyStore> {
  const { source, alg, log } = options
  const create = source.kind === 'directory' && alg !== 'HS256' ? { alg, now: Date.now() } : undefined

  /** Throws a ConfigError naming each exposed key file (refuse), or logs them (warn). */
  const checkFileModes = async (): Promise<void> =>
    await enforceKeyFileModes(await keyFilesOf(source), { variable: source.variable, what: 'signing keys', policy: options.fileModes, log })

  // Create the development layout first; then fingerprint before reading, so a change made
  // while reading is seen by the next reload.
  if (create !== undefined) await readKeys(source, create)
  let fingerprint = await keysFingerprint(source)
  await checkFileModes()
  const initial = await readKeys(source)
  assertSigns(initial, source.variable, Date.now())
  warnOnOtherAlgorithm(initial, alg, log)

  let reloading: Promise<boolean> | undefined
  let timer: NodeJS.Timeout | undefined
  const { store, replace } = keyStore(initial, async () => {
    reloading ??= reloadOnce().finally(() => { reloading = undefined })
    return await reloading
  }, () => { if (timer !== undefined) clearInterval(timer) })

  async function reloadOnce (): Promise<boolean> {
    try {
      const current = await keysFingerprint(source)
      if (current === fingerprint) return false
      await checkFileModes()
      const next = await readKeys(source)
      assertSigns(next, source.variable, Date.now())
      fingerprint = current
      // Keys that did not change keep their object, and so their verifier and its cache.
      const previous = new Map(store.keys().map((k) => [k.kid, k]))
      replace(next.map((k) => {
        const old = previous.get(k.kid)
        return old !== undefined && old.activatesAt.getTime() === k.activatesAt.getTime() ? old : k
      }))
      log.info({ kids: next.map((k) => k.kid) }, 'access-token signing keys reloaded')
      return true
    } catch (error) {
      // A half-edited or broken set must not take down a running service: keep the last good one.
      log.error({ err: error }, 'could not reload the access-token signing keys; keeping the current set')
      return false
    }
  }

  // A variable or a secret cannot change while the process runs: nothing to watch.
  if (options.reloadInterval > 0 && source.kind !== 'variable' && source.kind !== 'secret') {
    timer = setInterval(() => { void store.reload() }, options.reloadInterval * 1000).unref()
  }
  return store
}

function warnOnOtherAlgorithm (keys: readonly AccessKey[], alg: AccessAlg, log: FastifyBaseLogger): void {
  const signing = activeKey(keys, Date.now())
  if (signing !== undefined && signing.alg !== alg) {
    log.warn({ kid: signing.kid, alg: signing.alg }, `the active signing key is ${signing.alg}, not ACCESS_TOKEN_ALG=${alg}; \`authd keys rotate\` adds a ${alg} key`)
  }
}
