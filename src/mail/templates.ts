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

/**
 * A mail whose point is one link. Text: "Hello,", `intro`, the link, `outro` (a line each).
 * HTML: "Hello, " + `introHtml` (already escaped), the button, `outro` (a paragraph each, escaped).
 */
function linkMail (mail: LinkMail, parts: { subject: string, intro: string, introHtml: string, outro: string[], button: string }): RenderedMail {
  return {
    subject: parts.subject,
    text: ['Hello,', '', parts.intro, '', mail.link, '', ...parts.outro, ''].join('\n'),
    html: html(parts.subject, [`Hello, ${parts.introHtml}`, ...parts.outro.map(escapeHtml)], mail.link, parts.button)
  }
}

export function verificationMail (mail: LinkMail): RenderedMail {
  return linkMail(mail, {
    subject: 'Confirm your email address',
    intro: `please confirm that ${mail.email} is your email address for your account at ${mail.site} by opening this link:`,
    introHtml: `please confirm that <strong>${escapeHtml(mail.email)}</strong> is your email address for your account at ${escapeHtml(mail.site)}.`,
    outro: [`The link works once and expires in ${describeDuration(mail.ttlSeconds)}. If you did not create this account, you can ignore this mail.`],
    button: 'Confirm email address'
  })
}

export function passwordResetMail (mail: LinkMail): RenderedMail {
  return linkMail(mail, {
    subject: 'Reset your password',
    intro: `someone asked to reset the password of the account ${mail.email} at ${mail.site}. To choose a new password, open this link:`,
    introHtml: `someone asked to reset the password of the account <strong>${escapeHtml(mail.email)}</strong> at ${escapeHtml(mail.site)}. To choose a new password, open this link.`,
    outro: [
      `The link works once and expires in ${describeDuration(mail.ttlSeconds)}. Setting a new password signs you out on every device.`,
      'If you did not ask for this, ignore this mail: your password stays as it is.'
    ],
    button: 'Choose a new password'
  })
}

/** A login code: the code to type, and a link that carries it (in the fragment). */
export interface CodeMail extends LinkMail {
  /** The code as the user types it (XXXX-XXXX). */
  code: string
}

export function loginCodeMail (mail: CodeMail): RenderedMail {
  const asked = 'someone asked to log in without a password to the account'
  return linkMail(mail, {
    subject: `Your login code: ${mail.code}`,
    intro: `${asked} ${mail.email} at ${mail.site}. The login code is:\n\n    ${mail.code}\n\nType it on the login page, or open this link:`,
    introHtml: `${asked} <strong>${escapeHtml(mail.email)}</strong> at ${escapeHtml(mail.site)}. The login code is <strong style="font-size: 1.4em; letter-spacing: 0.1em">${escapeHtml(mail.code)}</strong>: type it on the login page, or open this link.`,
    outro: [`The code works once and expires in ${describeDuration(mail.ttlSeconds)}. If you did not ask for it, ignore this mail: nobody can log in without it.`],
    button: 'Log in'
  })
}

/** To the new address: the link that confirms it. */
export function emailChangeMail (mail: LinkMail): RenderedMail {
  return linkMail(mail, {
    subject: 'Confirm your new email address',
    intro: `someone asked to make ${mail.email} the email address of an account at ${mail.site}. To confirm it, open this link:`,
    introHtml: `someone asked to make <strong>${escapeHtml(mail.email)}</strong> the email address of an account at ${escapeHtml(mail.site)}. To confirm it, open this link.`,
    outro: [`The link works once and expires in ${describeDuration(mail.ttlSeconds)}. Until then the account keeps its old address. If you did not ask for this, ignore this mail.`],
    button: 'Confirm new address'
  })
}

/** To the old address: a notice, with no link and no token (the old address proves nothing). */
export function emailChangeNoticeMail (mail: { email: string, newEmail: string, site: string }): RenderedMail {
  const subject = 'Your email address is being changed'
  const what = `someone signed in to the account ${mail.email} at ${mail.site} asked to change its email address to ${mail.newEmail}. The change happens only once the new address is confirmed from the mail sent there.`
  const advice = 'If this was not you, sign in, change your password and end your other sessions: whoever asked knows the password or holds one of them.'
  return {
    subject,
    text: ['Hello,', '', what, '', advice, ''].join('\n'),
    html: `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>
<body style="font-family: sans-serif; line-height: 1.5; color: #222">
<p>Hello, ${escapeHtml(what)}</p>
<p>${escapeHtml(advice)}</p>
</body></html>
`
  }
}
