// The two reference pages that are written from code rather than by hand: docs/configuration.md
// from ConfigSchema and docs/errors.md from the error catalogue. By hand they drifted from the
// code they describe; rendered, a test (test/store-independent/docs.test.ts) compares them with
// the committed pages. Pure: scripts/generate-docs.ts does the writing.
import type { TSchema } from 'typebox'
import { ConfigSchema } from '../src/config.js'
import { ErrorCodes } from '../src/errors.js'

export const REGENERATE_COMMAND = 'npm run docs'

/** Each generated page, by its path from the repository root. */
export const GENERATED_PAGES: Record<string, () => string> = {
  'docs/configuration.md': renderConfigurationPage,
  'docs/errors.md': renderErrorsPage
}

const generatedNotice = (source: string) =>
  `<!-- Generated from ${source} by \`${REGENERATE_COMMAND}\` (scripts/generate-docs.ts): edit the source, not this page. -->`

/** A table cell: a `|` inside it would end the cell, a line break the row. */
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ')

interface SettingSchema {
  type?: string
  default?: unknown
  minimum?: number
  maximum?: number
  anyOf?: Array<{ const: string }>
  description?: string
}

/** What values a setting takes, in the words a reader of `.env` needs. */
function settingType (schema: SettingSchema): string {
  if (schema.anyOf !== undefined) {
    const choices = schema.anyOf.map((choice) => `\`${choice.const}\``)
    return `${choices.slice(0, -1).join(', ')} or ${choices.at(-1) ?? ''}`
  }
  if (schema.type === 'integer') return `integer, ${schema.minimum ?? ''}–${schema.maximum ?? ''}`
  return schema.type ?? 'string'
}

function settingDefault (value: unknown): string {
  return value === '' || value === undefined ? '*(empty)*' : `\`${String(value)}\``
}

export function renderConfigurationPage (): string {
  const rows = Object.entries(ConfigSchema.properties as Record<string, TSchema>).map(([name, raw]) => {
    const schema = raw as SettingSchema
    // An undescribed setting would leave a hole in the page; config.ts must say what each one does.
    if (schema.description === undefined || schema.description === '') throw new Error(`${name} has no description in src/config.ts`)
    return `| \`${name}\` | ${cell(settingType(schema))} | ${cell(settingDefault(schema.default))} | ${cell(schema.description)} |`
  })
  return [
    generatedNotice('`ConfigSchema` in src/config.ts'),
    '',
    '# Configuration',
    '',
    'All settings come from environment variables (and from a `.env` file in the working directory, whose',
    'values never override the real environment). They are validated once at start against the TypeBox',
    'schema in [`src/config.ts`](../src/config.ts); a bad value stops the process with exit code 1 and one',
    'line per bad variable, e.g. `PORT="abc": must be integer`. An empty value means the default.',
    '[`.env.example`](../.env.example) lists every variable with its default. Booleans are `true`/`false`',
    '(`1`/`0` also work).',
    '',
    '| Variable | Values | Default | Meaning |',
    '|---|---|---|---|',
    ...rows,
    ''
  ].join('\n')
}

export function renderErrorsPage (): string {
  const rows = Object.entries(ErrorCodes).map(([code, { status, title, description }]) =>
    `| \`${code}\` | ${status} | ${cell(title)} | ${cell(description)} |`)
  return [
    generatedNotice('the catalogue in src/errors.ts'),
    '',
    '# Error codes',
    '',
    'From the catalogue in [`src/errors.ts`](../src/errors.ts). Codes are never renamed or reused; clients',
    'should branch on `code`, not on `title` or `detail`. A 401 also carries',
    '`WWW-Authenticate: Bearer realm="authd"` (with `, error="invalid_token"` when a token was sent and',
    'rejected: `token_invalid`, `token_expired`, `token_reused`). Error replies carry',
    '`Cache-Control: no-store`. Every error is RFC 9457 problem JSON; its shape is in',
    '[the API reference](api.md#errors).',
    '',
    '| `code` | HTTP | `title` | When |',
    '|---|---|---|---|',
    ...rows,
    ''
  ].join('\n')
}
