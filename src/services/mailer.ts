// Sending mail with nodemailer. Where mail goes depends on SMTP_URL and NODE_ENV:
//   SMTP_URL set          → that SMTP server (any NODE_ENV);
//   empty, development    → printed to stdout, like Django's console backend (not sent);
//   empty, test           → dropped, as Django's test runner swaps in its in-memory backend
//                           (tests that read mail start a real SMTP server and set SMTP_URL);
//   empty, production     → no mailer at all: config.ts only allows that with
//                           EMAIL_VERIFICATION=none, and the mail routes are then not registered.
// The console output goes to stdout directly, never through the pino logger: the mail holds a
// token, and tokens must not reach logs that are shipped and kept.
import { createTransport, type Transport, type Transporter } from 'nodemailer'
import type { Config } from '../config.js'

export type MailerKind = 'smtp' | 'console' | 'discard'

export interface OutgoingMail {
  to: string
  subject: string
  text: string
  html: string
}

export interface Mailer {
  readonly kind: MailerKind
  /** Resolves once the transport has accepted the message (the SMTP server said 250). */
  send: (mail: OutgoingMail) => Promise<void>
  close: () => void
}

/** Which transport this configuration gets; null: none (production without SMTP_URL). */
export function mailerKind (config: Pick<Config, 'SMTP_URL' | 'NODE_ENV'>): MailerKind | null {
  if (config.SMTP_URL !== '') return 'smtp'
  if (config.NODE_ENV === 'development') return 'console'
  if (config.NODE_ENV === 'test') return 'discard'
  return null
}

/** Writes a readable copy of each message (headers and the text part) to `out`. */
function consoleTransport (out: NodeJS.WritableStream): Transport {
  return {
    name: 'authd-console',
    version: '1',
    send (mail, callback) {
      const { from, to, subject, text } = mail.data
      out.write([
        '----- mail (development: printed here, not sent; set SMTP_URL to send) -----',
        `From: ${String(from)}`,
        `To: ${String(to)}`,
        `Subject: ${String(subject)}`,
        '',
        String(text),
        '----- end of mail -----',
        ''
      ].join('\n'))
      callback(null, { envelope: mail.message.getEnvelope(), messageId: mail.message.messageId() })
    }
  }
}

export function createMailer (config: Config, options: { stdout?: NodeJS.WritableStream } = {}): Mailer | null {
  const kind = mailerKind(config)
  if (kind === null) return null
  let transport: Transporter
  if (kind === 'smtp') {
    // nodemailer's defaults wait up to 2 minutes to connect and 10 to hear back; a mail is
    // sent after the reply anyway, but a dead server should not pile up open sockets.
    // Options in the URL's query (e.g. ?connectionTimeout=30000) still win.
    transport = createTransport({ url: config.SMTP_URL, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 })
  } else if (kind === 'console') {
    transport = createTransport(consoleTransport(options.stdout ?? process.stdout))
  } else {
    transport = createTransport({ jsonTransport: true })
  }
  return {
    kind,
    async send (mail) {
      await transport.sendMail({ from: config.MAIL_FROM, ...mail })
    },
    close () { transport.close() }
  }
}
