// The random tokens authd hands out and keeps only a hash of: the mailed single-use tokens
// (email verification, password reset) and the mfaToken of a login waiting for its second
// factor. 32 random bytes (base64url): with 256 bits of entropy nobody can search the preimage
// of a hash, so a fast hash (SHA-256) suffices where a password needs a slow one, and a lookup
// by hash leaks nothing through timing that could help guess a token.
import { createHash, randomBytes } from 'node:crypto'

/** A token as authd issues it: 32 bytes, base64url, no padding. */
export const OPAQUE_TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/

export const newOpaqueToken = (): string => randomBytes(32).toString('base64url')

/** What is stored and looked up: base64url SHA-256 of the token. */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('base64url')
