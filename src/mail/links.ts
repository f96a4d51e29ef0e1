// Links in mails point at the frontend (FRONTEND_URL + a configurable path), which reads the
// token and POSTs it to authd. The token goes in the URL fragment (`#token=…`): browsers never
// send the fragment to a server, so it stays out of the frontend's access logs, proxies and
// Referer headers, where a query string would land.

/** FRONTEND_URL + path + #token=…; a FRONTEND_URL with a path (https://x.com/app) keeps it. */
export function mailLink (frontendUrl: string, path: string, token: string): string {
  return fragmentLink(frontendUrl, path, { token })
}

/** FRONTEND_URL + path + #name=value&… (form-encoded, as URLSearchParams reads it back). */
export function fragmentLink (frontendUrl: string, path: string, params: Record<string, string>): string {
  return `${frontendUrl.replace(/\/+$/, '')}${path}#${new URLSearchParams(params).toString()}`
}

/** The frontend's host (with port), naming the site in mails. */
export const siteName = (frontendUrl: string): string => new URL(frontendUrl).host
