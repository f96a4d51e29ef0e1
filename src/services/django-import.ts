// `authd import django`: a Django project's users become authd accounts that log in with the
// password they already have (password-hasher.ts verifies Django's hashes and the first login
// rehashes to authd's format). The source is read once (django-source.ts); the writes go in
// batches, each one transaction of the unit of work, so an interrupted run leaves whole batches
// and a re-run picks up where it stopped.
//
// Idempotent: an account made by the import carries its external id ("django:<pk>"); a re-run
// finds it by that and updates what changed at the source, never a second account. An address
// alone never matches: a Django address is often unverified, and matching an authd account by
// it would hand that account (its password, its roles) to whoever typed the address in Django.
// Such a user is skipped with the reason `email_in_authd`.
//
// Whose password wins on a re-run: the source's, while the authd hash is still one authd did
// not write (a Django format, or no password); once the user has logged in to authd (rehashed)
// or set a password there, authd's. (A Django bcrypt_sha256 hash is authd's own format, so it is
// never replaced on a re-run.)
import { randomUUID } from 'node:crypto'
import { Value } from 'typebox/value'
import type { ImportedUser, ImportedUserPatch } from '../repositories/imported-users.js'
import type { Repositories, UnitOfWork } from '../repositories/unit-of-work.js'
import { normalizeEmail, normalizeUsername } from '../repositories/users.js'
import { RoleName } from '../schemas/admin.js'
import { Email, Username } from '../schemas/common.js'
import { ADMIN_ROLE } from './admin-service.js'
import type { DjangoUser } from '../db/django-source.js'
import { hasAuthdFormat, hasUsablePassword, unusablePasswordHash } from './password-hasher.js'

export const SKIP_REASONS = ['no_email', 'invalid_email', 'duplicate_email', 'inactive', 'email_in_authd'] as const
export type SkipReason = typeof SKIP_REASONS[number]

export interface DjangoImportOptions {
  /** The role of `is_superuser` users (null: none). Default admin. */
  superuserRole: string | null
  /** The role of `is_staff` users (null: none). Default admin. */
  staffRole: string | null
  /** Each Django group becomes a role of the same (normalised) name. */
  groups: boolean
  /** The external ids' prefix: `<prefix>:<pk>` (two Django projects into one authd need two). */
  idPrefix: string
  /** Count auth_user's address as verified even without allauth saying so. */
  trustEmails: boolean
  batchSize: number
  dryRun: boolean
  /** After each batch: users handled so far, of `total`. */
  onProgress?: (done: number, total: number) => void
  /** One line per account created, updated or skipped (dry runs print these). */
  onChange?: (line: string) => void
}

export const DEFAULT_IMPORT_OPTIONS: DjangoImportOptions = { superuserRole: ADMIN_ROLE, staffRole: ADMIN_ROLE, groups: true, idPrefix: 'django', trustEmails: false, batchSize: 500, dryRun: false }

export interface ImportSummary {
  read: number
  created: number
  updated: number
  unchanged: number
  skipped: Record<SkipReason, number>
  /** Imported without a usable password (Django's `!…`, or a hasher authd cannot verify, by name). */
  withoutPassword: number
  unsupportedHashers: Record<string, number>
  /** Usernames authd cannot take (its pattern, or held by another account): imported without one. */
  usernamesDropped: number
  /** Group names that make no valid role name, never imported as roles. */
  groupsDropped: string[]
}

interface Candidate {
  user: DjangoUser
  externalId: string
  email: string
  emailVerified: boolean
  username: string | null
  fullName: string
  passwordHash: string
  roles: string[]
}

const MAX_ROLES = 32

/** A Django group name as an authd role name (lower case, other characters as `-`), or null. */
export function roleFromGroup (name: string): string | null {
  const role = name.trim().toLowerCase().replace(/[^a-z0-9_:-]+/g, '-').replace(/^[^a-z]+/, '').replace(/-+$/, '').slice(0, 64)
  return Value.Check(RoleName, role) ? role : null
}

/** Which address a user brings: allauth's verified primary one, else the user table's. */
function addressOf (user: DjangoUser, trustEmails: boolean): { email: string, verified: boolean } {
  const primary = user.addresses.find((a) => a.primary && a.verified && a.email !== '')
  if (primary !== undefined) return { email: primary.email, verified: true }
  const email = user.email
  const verified = trustEmails || user.addresses.some((a) => a.verified && normalizeEmail(a.email) === normalizeEmail(email))
  return { email, verified }
}

/** Of several users with one address (any case), the one that keeps it: active, verified, last seen, first made. */
function preferred (a: Candidate, b: Candidate): number {
  const rank = (c: Candidate): Array<number> => [c.user.isActive ? 0 : 1, c.emailVerified ? 0 : 1, -(c.user.lastLogin?.getTime() ?? 0)]
  const [ra, rb] = [rank(a), rank(b)]
  for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i]! - rb[i]!
  return Number(a.user.pk) - Number(b.user.pk) || a.user.pk.localeCompare(b.user.pk)
}

const sameRoles = (a: string[], b: string[]): boolean => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n')

export async function importDjangoUsers (db: UnitOfWork, source: { users: DjangoUser[] }, options: DjangoImportOptions): Promise<ImportSummary> {
  const summary: ImportSummary = {
    read: source.users.length,
    created: 0,
    updated: 0,
    unchanged: 0,
    skipped: Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>,
    withoutPassword: 0,
    unsupportedHashers: {},
    usernamesDropped: 0,
    groupsDropped: []
  }
  const report = (line: string): void => options.onChange?.(line)
  const skip = (user: DjangoUser, reason: SkipReason, email = user.email): void => {
    summary.skipped[reason]++
    report(`skip   ${options.idPrefix}:${user.pk} ${email === '' ? `(username ${JSON.stringify(user.username)})` : email}: ${reason}`)
  }
  const groupsDropped = new Set<string>()

  // 1. Each user as an authd account, or a reason to skip it.
  const byEmail = new Map<string, Candidate[]>()
  for (const user of source.users) {
    const address = addressOf(user, options.trustEmails)
    if (address.email === '') { skip(user, 'no_email'); continue }
    if (!Value.Check(Email, address.email)) { skip(user, 'invalid_email', address.email); continue }
    const roles = new Set<string>()
    if (user.isSuperuser && options.superuserRole !== null) roles.add(options.superuserRole)
    if (user.isStaff && options.staffRole !== null) roles.add(options.staffRole)
    if (options.groups) {
      for (const group of user.groups) {
        const role = roleFromGroup(group)
        if (role === null) groupsDropped.add(group)
        else roles.add(role)
      }
    }
    let passwordHash = user.password
    if (!hasUsablePassword(passwordHash)) {
      // Django's `!…` (set_unusable_password) is no password; a hasher authd cannot check
      // (md5, sha1, crypt…) leaves the account without one too: reset or a provider sign-in.
      const algorithm = /^[a-z0-9_]+(?=\$)/.exec(passwordHash)?.[0]
      if (algorithm !== undefined) summary.unsupportedHashers[algorithm] = (summary.unsupportedHashers[algorithm] ?? 0) + 1
      passwordHash = unusablePasswordHash()
    }
    const email = normalizeEmail(address.email)
    const username = Value.Check(Username, user.username) ? user.username : null
    if (username === null && user.username !== '') summary.usernamesDropped++
    const candidate: Candidate = {
      user,
      externalId: `${options.idPrefix}:${user.pk}`,
      email,
      emailVerified: address.verified,
      username,
      fullName: `${user.firstName} ${user.lastName}`.trim().slice(0, 150),
      passwordHash,
      roles: [...roles].slice(0, MAX_ROLES)
    }
    byEmail.set(email, [...(byEmail.get(email) ?? []), candidate])
  }
  summary.groupsDropped = [...groupsDropped].sort()

  // 2. One account per address, case-insensitively.
  const candidates: Candidate[] = []
  for (const group of byEmail.values()) {
    const [kept, ...others] = group.sort(preferred)
    candidates.push(kept!)
    for (const other of others) skip(other.user, 'duplicate_email', other.email)
  }
  candidates.sort((a, b) => Number(a.user.pk) - Number(b.user.pk) || a.user.pk.localeCompare(b.user.pk))

  // 3. The writes, batch by batch.
  const usernamesTaken = new Set<string>()
  let done = summary.read - candidates.length
  for (let start = 0; start < candidates.length; start += options.batchSize) {
    const batch = candidates.slice(start, start + options.batchSize)
    const work = async (repos: Repositories): Promise<void> => await importBatch(repos, batch, options, summary, usernamesTaken, report)
    if (options.dryRun) await work(db.repos)
    else await db.transaction(work)
    done += batch.length
    options.onProgress?.(done, summary.read)
  }
  if (!options.dryRun) {
    const { skipped, unsupportedHashers, groupsDropped: dropped, ...counts } = summary
    await db.repos.audit.record({
      type: 'users_imported',
      detail: { source: 'django', ...counts, ...Object.fromEntries(SKIP_REASONS.map((r) => [`skipped_${r}`, skipped[r]])), unsupportedHashers: Object.keys(unsupportedHashers), groupsDropped: dropped }
    })
  }
  return summary
}

async function importBatch (repos: Repositories, batch: Candidate[], options: DjangoImportOptions, summary: ImportSummary, usernamesTaken: Set<string>, report: (line: string) => void): Promise<void> {
  const existing = await repos.importedUsers.findMatches({
    externalIds: batch.map((c) => c.externalId),
    emails: batch.map((c) => c.email),
    usernames: batch.flatMap((c) => c.username === null ? [] : [c.username])
  })
  const byExternalId = new Map(existing.flatMap((u) => u.externalId === null ? [] : [[u.externalId, u] as const]))
  const byEmail = new Map(existing.map((u) => [u.email, u]))
  const byUsername = new Map(existing.flatMap((u) => u.usernameNormalized === null ? [] : [[u.usernameNormalized, u] as const]))
  /** The username a user may have: theirs, unless another account (or an earlier one of this run) holds it. */
  const usernameFor = (c: Candidate, ownerId: string | null): string | null => {
    if (c.username === null) return null
    const key = normalizeUsername(c.username)
    const holder = byUsername.get(key)
    if (holder !== undefined ? holder.id !== ownerId : usernamesTaken.has(key)) return null
    usernamesTaken.add(key)
    return c.username
  }

  const creates: ImportedUser[] = []
  for (const c of batch) {
    const found = byExternalId.get(c.externalId)
    if (found === undefined) {
      const holder = byEmail.get(c.email)
      if (holder !== undefined) { skipUser(summary, report, c, 'email_in_authd'); continue }
      if (!c.user.isActive) { skipUser(summary, report, c, 'inactive'); continue }
      const username = usernameFor(c, null)
      if (c.username !== null && username === null) summary.usernamesDropped++
      if (!hasUsablePassword(c.passwordHash)) summary.withoutPassword++
      creates.push({ id: randomUUID(), externalId: c.externalId, email: c.email, username, fullName: c.fullName, passwordHash: c.passwordHash, roles: c.roles, emailVerified: c.emailVerified, isActive: true })
      report(`create ${c.email}${c.roles.length > 0 ? ` roles: ${c.roles.join(' ')}` : ''}${hasUsablePassword(c.passwordHash) ? '' : ' (no password)'}`)
      continue
    }

    // An account of an earlier run: what changed at the source.
    const patch: ImportedUserPatch = {}
    if (found.email !== c.email) {
      const holder = byEmail.get(c.email)
      if (holder !== undefined && holder.id !== found.id) { skipUser(summary, report, c, 'email_in_authd'); continue }
      patch.email = c.email
      patch.emailVerified = c.emailVerified
    } else if (c.emailVerified && !found.emailVerified) {
      patch.emailVerified = true
    }
    const username = usernameFor(c, found.id)
    if (username !== null && username !== found.username) patch.username = username
    if (c.fullName !== found.fullName) patch.fullName = c.fullName
    if (!sameRoles(c.roles, found.roles)) patch.roles = c.roles
    // Deactivation follows the source; re-activation never does: an account deactivated in authd
    // (by an admin, or by an earlier run) comes back only through an admin, so a re-run cannot undo
    // an admin's decision.
    if (!c.user.isActive && found.isActive) patch.isActive = false
    const importOwnsPassword = !hasAuthdFormat(found.passwordHash)
    const bothUnusable = !hasUsablePassword(found.passwordHash) && !hasUsablePassword(c.passwordHash)
    if (importOwnsPassword && !bothUnusable && found.passwordHash !== c.passwordHash) patch.passwordHash = c.passwordHash
    const changed = Object.keys(patch)
    if (changed.length === 0) { summary.unchanged++; continue }
    summary.updated++
    report(`update ${c.email}: ${changed.join(', ')}`)
    if (options.dryRun) continue
    await repos.importedUsers.update(found.id, patch)
    // A deactivated account, or a password changed at the source, ends the account's sessions.
    if (patch.isActive === false) await repos.sessions.revokeAllForUser(found.id, 'deactivated')
    else if (patch.passwordHash !== undefined) await repos.sessions.revokeAllForUser(found.id, 'password_changed')
  }
  summary.created += creates.length
  if (!options.dryRun) await repos.importedUsers.createMany(creates)
}

function skipUser (summary: ImportSummary, report: (line: string) => void, c: Candidate, reason: SkipReason): void {
  summary.skipped[reason]++
  report(`skip   ${c.externalId} ${c.email}: ${reason}`)
}
