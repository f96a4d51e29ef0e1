// The mails authd sends, each as plain text and HTML. They hold no text the user chose (no
// name, no bio): a stranger registering with someone else's address must not be able to put
// words of their own into a mail from this service. Every value put into HTML is escaped.

export interface RenderedMail {
  subject: string
  text: string
  html: string
}

export interface LinkMail {
  /** The recipient's address. */
  email: string
  /** The frontend's host, naming the site in the mail (as Django names its Site). */
  site: string
  /** The link with the token in its fragment. */
  link: string
  /** How long the link works, in seconds. */
  ttlSeconds: number
}

// Hand-written: five replacements cover HTML text and double-quoted attribute values, and a
// dependency for them would be more code to trust than this.
const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c)

/** 3600 → "1 hour", 259200 → "3 days", 90 → "90 seconds". */
export function describeDuration (seconds: number): string {
  const units: Array<[number, string]> = [[86_400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']]
  const [size, name] = units.find(([size]) => seconds % size === 0 && seconds >= size) ?? [1, 'second']
  const n = seconds / size
  return `${n} ${name}${n === 1 ? '' : 's'}`
}

function html (title: string, paragraphs: string[], link: string, button: string): string {
  const href = escapeHtml(link)
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body style="font-family: sans-serif; line-height: 1.5; color: #222">
${paragraphs.slice(0, 1).map((p) => `<p>${p}</p>`).join('\n')}
<p><a href="${href}" style="display: inline-block; padding: 10px 18px; background: #2456d6; color: #fff; text-decoration: none; border-radius: 4px">${escapeHtml(button)}</a></p>
<p>Or paste this link into your browser:<br><a href="${href}">${href}</a></p>
${paragraphs.slice(1).map((p) => `<p>${p}</p>`).join('\n')}
</body></html>
`
}

export function verificationMail (mail: LinkMail): RenderedMail {
  const subject = 'Confirm your email address'
  const expires = describeDuration(mail.ttlSeconds)
  const text = [
    'Hello,',
    '',
    `please confirm that ${mail.email} is your email address for your account at ${mail.site} by opening this link:`,
    '',
    mail.link,
    '',
    `The link works once and expires in ${expires}. If you did not create this account, you can ignore this mail.`,
    ''
  ].join('\n')
  return {
    subject,
    text,
    html: html(subject, [
      `Hello, please confirm that <strong>${escapeHtml(mail.email)}</strong> is your email address for your account at ${escapeHtml(mail.site)}.`,
      `The link works once and expires in ${escapeHtml(expires)}. If you did not create this account, you can ignore this mail.`
    ], mail.link, 'Confirm email address')
  }
}

export function passwordResetMail (mail: LinkMail): RenderedMail {
  const subject = 'Reset your password'
  const expires = describeDuration(mail.ttlSeconds)
  const text = [
    'Hello,',
    '',
    `someone asked to reset the password of the account ${mail.email} at ${mail.site}. To choose a new password, open this link:`,
    '',
    mail.link,
    '',
    `The link works once and expires in ${expires}. Setting a new password signs you out on every device.`,
    'If you did not ask for this, ignore this mail: your password stays as it is.',
    ''
  ].join('\n')
  return {
    subject,
    text,
    html: html(subject, [
      `Hello, someone asked to reset the password of the account <strong>${escapeHtml(mail.email)}</strong> at ${escapeHtml(mail.site)}. To choose a new password, open this link.`,
      `The link works once and expires in ${escapeHtml(expires)}. Setting a new password signs you out on every device.`,
      'If you did not ask for this, ignore this mail: your password stays as it is.'
    ], mail.link, 'Choose a new password')
  }
}
