import { useEffect, useState, type FormEvent } from 'react'
import { AUTHD_URL, AuthdError, currentUser, login, logout, onSessionEnd, refresh, register, type User } from './authd'

type State =
  | { status: 'loading' }
  | { status: 'anonymous', notice?: string }
  | { status: 'authenticated', user: User }

const message = (error: unknown) =>
  error instanceof AuthdError ? `${error.message} (${error.code})` : String(error)

export function App () {
  const [state, setState] = useState<State>({ status: 'loading' })
  const [error, setError] = useState<string | null>(null)

  // On load: silent refresh with the cookie, then fetch the user.
  useEffect(() => {
    let active = true
    const stop = onSessionEnd(() => setState({ status: 'anonymous', notice: 'Your session has ended.' }))
    void (async () => {
      try {
        const user = await refresh() ? await currentUser() : null
        if (active) setState(user ? { status: 'authenticated', user } : { status: 'anonymous' })
      } catch (e) {
        if (active) { setError(message(e)); setState({ status: 'anonymous' }) }
      }
    })()
    return () => { active = false; stop() }
  }, [])

  async function run (action: () => Promise<State>) {
    setError(null)
    try { setState(await action()) } catch (e) { setError(message(e)) }
  }

  return (
    <main style={{ fontFamily: 'system-ui, sans-serif', maxWidth: 520, margin: '2rem auto' }}>
      <h1>authd React example</h1>
      <p>authd: <code>{AUTHD_URL}</code> · status: <strong data-testid="status">{state.status}</strong></p>
      {error && <p role="alert" data-testid="error" style={{ color: 'crimson' }}>{error}</p>}

      {state.status === 'authenticated' && (
        <section data-testid="profile">
          <p>Signed in as <strong data-testid="user-email">{state.user.email}</strong></p>
          <p>User id: <code data-testid="user-id">{state.user.id}</code></p>
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
            await login(name, password)
            return { status: 'authenticated', user: await currentUser() }
          })} />
        </>
      )}
    </main>
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
