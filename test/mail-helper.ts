// A real SMTP server inside the test process (smtp-server), so that authd's mail goes through
// nodemailer's SMTP transport exactly as in production and each test reads what a user would
// get: the message is parsed with mailparser before the server acknowledges it, so by the
// time authd's send has resolved, the message is in `messages`.
import type { AddressInfo } from 'node:net'
import { simpleParser, type ParsedMail } from 'mailparser'
import { SMTPServer } from 'smtp-server'

export interface CapturedMail {
  /** Envelope recipients (RCPT TO), lower-cased. */
  to: string[]
  /** Envelope sender (MAIL FROM). */
  from: string
  /** The SMTP AUTH user the client logged in as, or null. */
  authUser: string | null
  subject: string
  text: string
  html: string
  parsed: ParsedMail
}

export interface MailServer {
  /** SMTP_URL for authd, with the credentials this server accepts. */
  url: string
  messages: CapturedMail[]
  /** Every message sent to `address` so far. */
  to: (address: string) => CapturedMail[]
  /**
   * The `count`-th message to `address` (1 = the first), once it has arrived; rejects after
   * `timeoutMs` (generous: the machine may be busy) naming what did arrive.
   */
  waitFor: (address: string, count?: number, timeoutMs?: number) => Promise<CapturedMail>
}

export const SMTP_USER = 'authd'
export const SMTP_PASS = 'smtp secret'

interface Teardown { teardown (fn: () => unknown): void }

export async function startMailServer (t: Teardown): Promise<MailServer> {
  const messages: CapturedMail[] = []
  const waiters = new Set<() => void>()

  const server = new SMTPServer({
    logger: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    // Plain-text AUTH on loopback: there is no TLS here to wait for.
    allowInsecureAuth: true,
    onAuth (auth, _session, callback) {
      if (auth.username === SMTP_USER && auth.password === SMTP_PASS) callback(null, { user: auth.username })
      else callback(new Error('Invalid username or password'))
    },
    onData (stream, session, callback) {
      simpleParser(stream).then((parsed) => {
        messages.push({
          to: session.envelope.rcptTo.map((a) => a.address.toLowerCase()),
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          authUser: typeof session.user === 'string' ? session.user : null,
          subject: parsed.subject ?? '',
          text: parsed.text ?? '',
          html: typeof parsed.html === 'string' ? parsed.html : '',
          parsed
        })
        for (const wake of waiters) wake()
        callback()
      }, (error: Error) => { callback(error) })
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { resolve() })
  })
  t.teardown(async () => { await new Promise<void>((resolve) => { server.close(() => { resolve() }) }) })
  const { port } = server.server.address() as AddressInfo

  const to = (address: string) => messages.filter((m) => m.to.includes(address.toLowerCase()))

  return {
    url: `smtp://${encodeURIComponent(SMTP_USER)}:${encodeURIComponent(SMTP_PASS)}@127.0.0.1:${port}`,
    messages,
    to,
    async waitFor (address, count = 1, timeoutMs = 30_000) {
      return await new Promise<CapturedMail>((resolve, reject) => {
        const check = () => {
          const mail = to(address)[count - 1]
          if (mail === undefined) return
          waiters.delete(check)
          clearTimeout(timer)
          resolve(mail)
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no mail #${count} to ${address} within ${timeoutMs} ms (got ${messages.length}: ${messages.map((m) => `${m.to.join(',')} "${m.subject}"`).join('; ')})`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    }
  }
}

/** The link in a mail's text, with its token (from the `#token=` fragment). */
export function linkIn (mail: CapturedMail): { link: string, url: URL, token: string } {
  const match = /https?:\/\/\S+#token=[A-Za-z0-9_-]+/.exec(mail.text)
  if (match === null) throw new Error(`no link in mail "${mail.subject}": ${mail.text}`)
  const url = new URL(match[0])
  const token = new URLSearchParams(url.hash.slice(1)).get('token')
  if (token === null) throw new Error(`no token in ${match[0]}`)
  return { link: match[0], url, token }
}

/**
 * The link of a mail that must open `page` (FRONTEND_URL + its path): checked to carry its
 * secret only in the fragment (no query) and to be the same in the HTML part.
 */
export function pageLinkIn (t: { equal: (a: unknown, b: unknown, m: string) => void, ok: (v: unknown, m: string) => void }, mail: CapturedMail, page: string): ReturnType<typeof linkIn> {
  const found = linkIn(mail)
  t.equal(`${found.url.origin}${found.url.pathname}`, page, `the link opens ${page}`)
  t.equal(found.url.search, '', 'the token is only in the fragment')
  t.ok(mail.html.includes(`href="${found.link}"`), 'the HTML part links to the same URL')
  return found
}
