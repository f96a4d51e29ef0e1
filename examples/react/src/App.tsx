import { useCallback, useEffect, useState, type FormEvent } from 'react'
import QRCode from 'qrcode'
import { useAuthd } from '@authd/client/react'
import {
  AUTHD_URL, AuthdError, addPasskey, authd, completeMfa, confirmTotp, currentUser, login, loginWithPasskey, logout, mfaStatus,
  passkeyAssertion, providerReturn, providers, providerStartUrl, refresh, register, startTotp, type Passkey, type Provider, type User
} from './authd'

type State =
  | { status: 'loading' }
  | { status: 'anonymous', notice?: string }
  // The password was right and the account has a second factor: a code must follow.
  | { status: 'mfa', mfaToken: string, methods: string[] }
  | { status: 'authenticated', user: User }

// What authd's redirect back from a provider left in the address (?error=, or the second-factor
// challenge in the fragment): read once when the page loads, outside React (StrictMode runs
// effects twice in development, and the first run clears the address).
const providerBack = providerReturn()

const message = (error: unknown) =>
  error instanceof AuthdError ? `${error.message} (${error.code})` : String(error)

export function App () {
  const [state, setState] = useState<State>({ status: 'loading' })
  const [error, setError] = useState<string | null>(null)
  // A failed provider sign-in comes back as ?error=<code> (read once, then removed from the address).
  const [providerError] = useState<string | null>(providerBack.kind === 'error' ? providerBack.code : providerBack.kind === 'mfaEnrollment' ? 'mfa_enrollment_required' : null)
  const showError = useCallback((e: unknown) => setError(message(e)), [])

  // On load: back from a provider with a second factor to give → the code form; else a silent
  // refresh with the cookie (one tab at a time) — this is also how a provider sign-in lands
  // signed in: authd set the refresh cookie before redirecting here. Signed in, the effect below
  // fetches the user.
  useEffect(() => {
    let active = true
    if (providerBack.kind === 'mfa') {
      setState({ status: 'mfa', mfaToken: providerBack.mfaToken, methods: providerBack.methods })
      return
    }
    refresh().then(
      (signedIn) => { if (active && !signedIn) setState({ status: 'anonymous' }) },
      (e) => { if (active) { setError(message(e)); setState({ status: 'anonymous' }) } })
    return () => { active = false }
  }, [])

  // The client's state follows every tab: a login elsewhere shows the user here, a logout
  // elsewhere (or a session authd ended) shows the login form.
  const auth = useAuthd(authd)
  useEffect(() => {
    if (auth.status === 'signedOut') {
      const notice = auth.reason === 'ended' ? 'Your session has ended.' : auth.reason === 'logout' ? 'You are signed out.' : undefined
      setState((s) => s.status === 'authenticated' ? { status: 'anonymous', ...(notice ? { notice } : {}) } : s)
    }
    if (auth.status !== 'signedIn') return
    let active = true
    currentUser().then(
      (user) => { if (active) setState((s) => s.status === 'loading' || s.status === 'anonymous' ? { status: 'authenticated', user } : s) },
      (e) => { if (active) { setError(message(e)); setState((s) => s.status === 'loading' ? { status: 'anonymous' } : s) } })
    return () => { active = false }
  }, [auth])

  async function run (action: () => Promise<State>) {
    setError(null)
    try { setState(await action()) } catch (e) { setError(message(e)) }
  }

  return (
    <main style={{ fontFamily: 'system-ui, sans-serif', maxWidth: 520, margin: '2rem auto' }}>
      <h1>authd React example</h1>
      <p>authd: <code>{AUTHD_URL}</code> · status: <strong data-testid="status">{state.status}</strong></p>
      {error && <p role="alert" data-testid="error" style={{ color: 'crimson' }}>{error}</p>}
      {providerError && state.status !== 'authenticated' && (
        <p role="alert" data-testid="provider-error" style={{ color: 'crimson' }}>
          The sign-in with the provider failed: <code>{providerError}</code>
        </p>
      )}

      {state.status === 'authenticated' && (
        <section data-testid="profile">
          <p>Signed in as <strong data-testid="user-email">{state.user.email}</strong></p>
          <p>User id: <code data-testid="user-id">{state.user.id}</code></p>
          <WhoAmI />
          <TwoFactor onError={showError} />
          <Passkeys onError={showError} />
          <button data-testid="logout" onClick={() => run(async () => { await logout(); return { status: 'anonymous' } })}>
            Log out
          </button>
        </section>
      )}

      {state.status === 'anonymous' && (
        <>
          {state.notice && <p data-testid="notice">{state.notice}</p>}
          <RegisterForm onSubmit={(email, password) => run(async () => {
            const { loggedIn } = await register({ email, password })
            return loggedIn
              ? { status: 'authenticated', user: await currentUser() }
              : { status: 'anonymous', notice: 'Registered: check your email to verify the address, then log in.' }
          })} />
          <LoginForm onSubmit={(name, password) => run(async () => {
            const result = await login(name, password)
            if ('mfaRequired' in result) return { status: 'mfa', mfaToken: result.mfaToken, methods: result.methods }
            return { status: 'authenticated', user: await currentUser() }
          })} />
          <section>
            <h2>Passkey</h2>
            <button data-testid="passkey-login" onClick={() => run(async () => {
              await loginWithPasskey()
              return { status: 'authenticated', user: await currentUser() }
            })}>Log in with a passkey</button>
          </section>
          <ProviderButtons onError={showError} />
        </>
      )}

      {state.status === 'mfa' && (
        <MfaForm
          onSubmit={(code) => run(async () => {
            // A recovery code looks like xxxxx-xxxxx; a TOTP code is 6 digits.
            await completeMfa(state.mfaToken, /^\d{6}$/.test(code) ? { code } : { recoveryCode: code })
            return { status: 'authenticated', user: await currentUser() }
          })}
          onPasskey={state.methods.includes('webauthn')
            ? () => run(async () => {
              await completeMfa(state.mfaToken, { webauthn: await passkeyAssertion() })
              return { status: 'authenticated', user: await currentUser() }
            })
            : undefined}
          onCancel={() => run(async () => ({ status: 'anonymous' }))}
        />
      )}
    </main>
  )
}

/** A call through the client's fetch: the bearer token, and one retry after a refresh on token_expired. */
function WhoAmI () {
  const [calls, setCalls] = useState<number[]>([])
  async function call () {
    let status = 0
    try { status = (await authd.fetch('/v1/users/me')).status } catch { /* network: 0 */ }
    setCalls((list) => [...list, status])
  }
  return (
    <p>
      <button data-testid="whoami" onClick={() => { void call() }}>Call GET /v1/users/me</button>{' '}
      <span data-testid="whoami-result">{calls.length} calls, {calls.filter((status) => status === 200).length} answered 200</span>
    </p>
  )
}

/** One "Sign in with …" button per provider configured in authd: each navigates the page to authd's start. */
function ProviderButtons ({ onError }: { onError: (error: unknown) => void }) {
  const [list, setList] = useState<Provider[]>([])
  useEffect(() => {
    let active = true
    providers().then((l) => { if (active) setList(l) }, (e) => { if (active) onError(e) })
    return () => { active = false }
  }, [onError])
  if (list.length === 0) return null
  return (
    <section data-testid="providers">
      <h2>Other providers</h2>
      {list.map((p) => (
        <button key={p.id} data-testid={`provider-${p.id}`} onClick={() => { window.location.assign(providerStartUrl(p.id, '/')) }}>
          Sign in with {p.name}
        </button>
      ))}
    </section>
  )
}

function RegisterForm ({ onSubmit }: { onSubmit: (email: string, password: string) => Promise<void> }) {
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const submit = (e: FormEvent) => { e.preventDefault(); void onSubmit(email, password) }
  return (
    <form data-testid="register-form" onSubmit={submit}>
      <h2>Register</h2>
      <input data-testid="register-email" type="email" placeholder="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
      <input data-testid="register-password" type="password" placeholder="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
      <button data-testid="register-submit" type="submit">Register</button>
    </form>
  )
}

function LoginForm ({ onSubmit }: { onSubmit: (login: string, password: string) => Promise<void> }) {
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  const submit = (e: FormEvent) => { e.preventDefault(); void onSubmit(name, password) }
  return (
    <form data-testid="login-form" onSubmit={submit}>
      <h2>Log in</h2>
      <input data-testid="login-login" placeholder="email or username" autoComplete="username" required value={name} onChange={(e) => setName(e.target.value)} />
      <input data-testid="login-password" type="password" placeholder="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
      <button data-testid="login-submit" type="submit">Log in</button>
    </form>
  )
}

function MfaForm ({ onSubmit, onPasskey, onCancel }: { onSubmit: (code: string) => Promise<void>, onPasskey?: () => Promise<void>, onCancel: () => void }) {
  const [code, setCode] = useState('')
  const submit = (e: FormEvent) => { e.preventDefault(); void onSubmit(code.trim()) }
  return (
    <form data-testid="mfa-form" onSubmit={submit}>
      <h2>Two-factor code</h2>
      <p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>
      <input data-testid="mfa-code" placeholder="123456" autoComplete="one-time-code" inputMode="numeric" autoFocus required value={code} onChange={(e) => setCode(e.target.value)} />
      <button data-testid="mfa-submit" type="submit">Verify</button>
      {onPasskey && <button data-testid="mfa-passkey" type="button" onClick={() => { void onPasskey() }}>Use a passkey instead</button>}
      <button type="button" onClick={onCancel}>Cancel</button>
    </form>
  )
}

type Enrolment =
  | { step: 'loading' }
  | { step: 'off' }
  | { step: 'scan', secret: string, qr: string }
  | { step: 'codes', recoveryCodes: string[] }
  | { step: 'on' }

/** "Enable two-factor": start → scan the QR code (or type the secret) → confirm a code → recovery codes, shown once. */
function TwoFactor ({ onError }: { onError: (error: unknown) => void }) {
  const [state, setState] = useState<Enrolment>({ step: 'loading' })
  const [code, setCode] = useState('')

  useEffect(() => {
    mfaStatus().then((s) => setState({ step: s.totp ? 'on' : 'off' }), (e) => { setState({ step: 'off' }); onError(e) })
  }, [onError])

  async function start () {
    try {
      const { secret, otpauthUri } = await startTotp()
      // The QR code is drawn here, in the page: the secret never goes to a third-party QR service.
      setState({ step: 'scan', secret, qr: await QRCode.toDataURL(otpauthUri) })
    } catch (e) { onError(e) }
  }

  async function confirm (e: FormEvent) {
    e.preventDefault()
    try {
      setState({ step: 'codes', recoveryCodes: await confirmTotp(code.trim()) })
      setCode('')
    } catch (e) { onError(e) }
  }

  return (
    <section data-testid="two-factor">
      <h2>Two-factor authentication</h2>
      {state.step === 'on' && <p data-testid="totp-on">Two-factor authentication is on.</p>}
      {state.step === 'off' && <button data-testid="totp-start" onClick={() => { void start() }}>Enable two-factor</button>}
      {state.step === 'scan' && (
        <form onSubmit={(e) => { void confirm(e) }}>
          <p>Scan this with your authenticator app, then enter the code it shows.</p>
          <img data-testid="totp-qr" src={state.qr} alt="QR code of the otpauth URI" width={200} height={200} />
          <p>Or type the secret: <code data-testid="totp-secret">{state.secret}</code></p>
          <input data-testid="totp-code" placeholder="123456" autoComplete="one-time-code" inputMode="numeric" required value={code} onChange={(e) => setCode(e.target.value)} />
          <button data-testid="totp-confirm" type="submit">Confirm</button>
        </form>
      )}
      {state.step === 'codes' && (
        <>
          <p data-testid="totp-on">Two-factor authentication is on. Save these recovery codes now: each works once, and they are not shown again.</p>
          <ul data-testid="recovery-codes">{state.recoveryCodes.map((c) => <li key={c}><code>{c}</code></li>)}</ul>
          <button onClick={() => setState({ step: 'on' })}>I have saved them</button>
        </>
      )}
    </section>
  )
}

/** The user's passkeys, and "Add a passkey" (the browser asks the authenticator to create one). */
function Passkeys ({ onError }: { onError: (error: unknown) => void }) {
  const [passkeys, setPasskeys] = useState<Passkey[] | null>(null)
  const [name, setName] = useState('')

  useEffect(() => {
    mfaStatus().then((s) => setPasskeys(s.passkeys), (e) => { setPasskeys([]); onError(e) })
  }, [onError])

  async function add (e: FormEvent) {
    e.preventDefault()
    try {
      const added = await addPasskey(name.trim())
      setPasskeys((list) => [...(list ?? []), { ...added, lastUsedAt: null }])
      setName('')
    } catch (e) { onError(e) }
  }

  return (
    <section data-testid="passkeys">
      <h2>Passkeys</h2>
      {passkeys !== null && passkeys.length === 0 && <p>No passkey yet.</p>}
      <ul data-testid="passkey-list">
        {(passkeys ?? []).map((p) => <li key={p.id}>{p.name} <small>(added {new Date(p.createdAt).toLocaleDateString()})</small></li>)}
      </ul>
      <form onSubmit={(e) => { void add(e) }}>
        <input data-testid="passkey-name" placeholder="name (e.g. this laptop)" maxLength={64} value={name} onChange={(e) => setName(e.target.value)} />
        <button data-testid="passkey-add" type="submit">Add a passkey</button>
      </form>
    </section>
  )
}
