/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Base URL of authd, e.g. http://localhost:3000 (no trailing slash). */
  readonly VITE_AUTHD_URL?: string
  /** Name of authd's readable CSRF cookie (authd's COOKIE_CSRF_NAME); unset: authd's defaults, __Host-authd_csrf, __Secure-authd_csrf or authd_csrf. */
  readonly VITE_AUTHD_CSRF_COOKIE?: string
}
