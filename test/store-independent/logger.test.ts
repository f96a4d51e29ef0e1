// Log format: pretty (pino-pretty) for a developer at a terminal, JSON for everything else
// (production, tests, CI, anything piped), unless LOG_FORMAT says otherwise.
import t from 'tap'
import { loggerOptions, wantsPrettyLogs } from '../../src/logger.js'
import { parseConfig } from '../../src/config.js'

t.test('LOG_FORMAT=auto: pretty only in development on a terminal', async (t) => {
  t.equal(wantsPrettyLogs({ LOG_FORMAT: 'auto', NODE_ENV: 'development' }, true), true)
  t.equal(wantsPrettyLogs({ LOG_FORMAT: 'auto', NODE_ENV: 'development' }, false), false, 'piped or in CI: JSON')
  t.equal(wantsPrettyLogs({ LOG_FORMAT: 'auto', NODE_ENV: 'production' }, true), false)
  t.equal(wantsPrettyLogs({ LOG_FORMAT: 'auto', NODE_ENV: 'test' }, true), false)
})

t.test('LOG_FORMAT=json|pretty decides', async (t) => {
  t.equal(wantsPrettyLogs({ LOG_FORMAT: 'pretty', NODE_ENV: 'production' }, false), true)
  t.equal(wantsPrettyLogs({ LOG_FORMAT: 'json', NODE_ENV: 'development' }, true), false)
})

t.test('the pretty logger is pino-pretty, with the same redaction and serializers', async (t) => {
  const pretty = loggerOptions(parseConfig({ LOG_FORMAT: 'pretty' }))
  t.match(pretty, { transport: { target: 'pino-pretty' }, redact: { censor: '[redacted]' } })
  t.ok(pretty.serializers?.req && pretty.serializers?.err)
  const json = loggerOptions(parseConfig({ LOG_FORMAT: 'json' }))
  t.equal((json as { transport?: unknown }).transport, undefined, 'JSON: no transport')
  t.throws(() => parseConfig({ LOG_FORMAT: 'yaml' }), /LOG_FORMAT/)
})
