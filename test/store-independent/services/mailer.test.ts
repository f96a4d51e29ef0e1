// Where mail goes (SMTP_URL / NODE_ENV), the production rule for SMTP_URL, the development
// console transport, and the templates' escaping. The flows themselves are tested in
// test/routes/auth/{email-verification,password-reset}.test.ts against a real SMTP server.
import { Writable } from 'node:stream'
import t from 'tap'
import { parseConfig } from '../../../src/config.js'
import { mailLink } from '../../../src/mail/links.js'
import { describeDuration, escapeHtml, passwordResetMail, verificationMail } from '../../../src/mail/templates.js'
import { createMailer, mailerKind } from '../../../src/services/mailer.js'
import { assertProblem, build, configError } from '../../helper.js'

t.test('defaults', async (t) => {
  t.match(parseConfig({}), {
    SMTP_URL: '',
    MAIL_FROM: 'authd <no-reply@localhost>',
    FRONTEND_URL: 'http://localhost:5173',
    EMAIL_VERIFY_URL_PATH: '/verify-email',
    PASSWORD_RESET_URL_PATH: '/reset-password',
    EMAIL_VERIFICATION: 'optional',
    EMAIL_VERIFICATION_TTL: 259_200,
    PASSWORD_RESET_TTL: 3600,
    MAIL_THROTTLE_SECONDS: 60,
    RATE_LIMIT_EMAIL: 10
  })
})

t.test('which transport: SMTP when set, else console (development), dropped (test), none (production)', async (t) => {
  t.equal(mailerKind({ SMTP_URL: 'smtp://mail:25', NODE_ENV: 'production' }), 'smtp')
  t.equal(mailerKind({ SMTP_URL: 'smtp://mail:25', NODE_ENV: 'development' }), 'smtp')
  t.equal(mailerKind({ SMTP_URL: '', NODE_ENV: 'development' }), 'console')
  t.equal(mailerKind({ SMTP_URL: '', NODE_ENV: 'test' }), 'discard')
  t.equal(mailerKind({ SMTP_URL: '', NODE_ENV: 'production' }), null, 'never the console in production')
})

// Production also wants its signing keys from configuration (test/store-independent/config.test.ts); not the subject here.
const KEYS = { ALLOW_GENERATED_KEYS: 'true', PUBLIC_URL: 'https://auth.example.com' }

t.test('production needs SMTP_URL unless EMAIL_VERIFICATION=none', async (t) => {
  for (const mode of ['optional', 'mandatory']) {
    const error = configError({ NODE_ENV: 'production', EMAIL_VERIFICATION: mode })
    t.match(error.message, /\bSMTP_URL\b.*required/, `${mode}: SMTP_URL named`)
  }
  t.match(configError({ NODE_ENV: 'production' }).message, /SMTP_URL/, 'the default (optional) needs it too')
  t.doesNotThrow(() => parseConfig({ NODE_ENV: 'production', EMAIL_VERIFICATION: 'none', ...KEYS }), 'none: runs without mail')
  t.doesNotThrow(() => parseConfig({ NODE_ENV: 'production', SMTP_URL: 'smtps://u:p@mail.example.com:465', ...KEYS }))
  t.doesNotThrow(() => parseConfig({ NODE_ENV: 'development' }), 'development prints mail instead')
})

t.test('a bad SMTP_URL is named without echoing its password; a bad FRONTEND_URL or path is named', async (t) => {
  for (const value of ['http://user:hunter2hunter2@mail:25', 'mail.example.com', 'smtp://']) {
    const error = configError({ SMTP_URL: value })
    t.match(error.message, /SMTP_URL/, `${value} refused`)
    t.notMatch(error.message, /hunter2/, 'the password is not shown')
  }
  for (const value of ['ftp://x', 'not a url', 'https://app.example.com/?next=1', 'https://app.example.com/#x']) {
    t.match(configError({ FRONTEND_URL: value }).message, /FRONTEND_URL/, `${value} refused`)
  }
  t.match(configError({ EMAIL_VERIFY_URL_PATH: 'verify' }).message, /EMAIL_VERIFY_URL_PATH/, 'a path starts with /')
  t.match(configError({ PASSWORD_RESET_URL_PATH: '/reset?x=1' }).message, /PASSWORD_RESET_URL_PATH/, 'no query in the path')
  t.match(configError({ EMAIL_VERIFICATION: 'always' }).message, /EMAIL_VERIFICATION.*none, optional, mandatory/)
  t.match(configError({ PASSWORD_RESET_TTL: '10' }).message, /PASSWORD_RESET_TTL/)
})

t.test('production without mail: the email, password-reset, login-code and email-change routes do not exist', async (t) => {
  const app = await build(t, { NODE_ENV: 'production', EMAIL_VERIFICATION: 'none', ...KEYS })
  t.equal(app.mailer, null)
  for (const [url, payload] of [
    ['/v1/auth/email/verify', { token: 'x' }], ['/v1/auth/email/resend', { email: 'a@example.com' }],
    ['/v1/auth/password/forgot', { email: 'a@example.com' }], ['/v1/auth/password/reset', { token: 'x', newPassword: 'long enough passphrase' }],
    ['/v1/app/auth/code/request', { email: 'a@example.com' }], ['/v1/app/auth/code/confirm', { email: 'a@example.com', code: 'AAAA-AAAA' }],
    ['/v1/auth/email/change/confirm', { token: 'x' }], ['/v1/users/me/email', { newEmail: 'b@example.com' }]
  ] as const) {
    assertProblem(t, await app.inject({ method: 'POST', url, payload }), 404, 'not_found')
  }
  const registered = await app.inject({ method: 'POST', url: '/v1/app/auth/register', payload: { email: 'prod@example.com', password: 'correct horse battery' } })
  t.equal(registered.statusCode, 201, 'registration still works')
})

t.test('development console transport: the whole message on stdout, readable', async (t) => {
  let out = ''
  const stdout = new Writable({ write (chunk, _encoding, done) { out += String(chunk); done() } })
  const config = parseConfig({ NODE_ENV: 'development', MAIL_FROM: 'Example <accounts@example.com>' })
  const mailer = createMailer(config, { stdout })
  t.equal(mailer?.kind, 'console')
  const link = mailLink(config.FRONTEND_URL, config.EMAIL_VERIFY_URL_PATH, 'TOKEN_abc-123')
  await mailer?.send({ to: 'ada@example.com', ...verificationMail({ email: 'ada@example.com', site: 'localhost:5173', link, ttlSeconds: 3600 }) })
  mailer?.close()
  t.match(out, /From: Example <accounts@example.com>/)
  t.match(out, /To: ada@example.com/)
  t.match(out, /Subject: Confirm your email address/)
  t.ok(out.includes('http://localhost:5173/verify-email#token=TOKEN_abc-123'), 'the link as it is (not quoted-printable)')
  t.match(out, /not sent/, 'says it was not sent')
})

t.test('links: FRONTEND_URL + path + #token, a base path kept', async (t) => {
  t.equal(mailLink('https://app.example.com', '/verify-email', 'abc'), 'https://app.example.com/verify-email#token=abc')
  t.equal(mailLink('https://example.com/app/', '/reset-password', 'abc'), 'https://example.com/app/reset-password#token=abc')
})

t.test('templates: text and HTML, values escaped in HTML, durations in words', async (t) => {
  t.equal(escapeHtml('<a href="x">\'&\'</a>'), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;')
  const hostile = { email: '"><script>alert(1)</script>@example.com', site: 'app<b>.example.com', link: 'https://app.example.com/r#token=a"b<c', ttlSeconds: 5400 }
  for (const rendered of [verificationMail(hostile), passwordResetMail(hostile)]) {
    t.notMatch(rendered.html, /<script>|<b>|"b<c/, 'nothing unescaped in the HTML')
    t.ok(rendered.html.includes('href="https://app.example.com/r#token=a&quot;b&lt;c"'), 'the link attribute escaped')
    t.ok(rendered.text.includes(hostile.link), 'the text part carries the link as is')
    t.match(rendered.text, /90 minutes/)
  }
  t.equal(describeDuration(3600), '1 hour')
  t.equal(describeDuration(259_200), '3 days')
  t.equal(describeDuration(90), '90 seconds')
  t.equal(describeDuration(120), '2 minutes')
})
