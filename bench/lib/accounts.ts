// Accounts and tokens the scenarios need, made through authd's own HTTP API.
export interface Account { email: string, password: string }
export interface Tokens { access: string, refresh: string }

const JSON_HEADERS = { 'content-type': 'application/json' }

export function benchAccount (index: number, tag: string): Account {
  return { email: `bench-${tag}-${index}@example.com`, password: `bench password ${index} correct horse` }
}

async function post (url: string, body: unknown, expected: number): Promise<unknown> {
  const response = await fetch(url, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body), signal: AbortSignal.timeout(120_000) })
  const text = await response.text()
  if (response.status !== expected) throw new Error(`POST ${new URL(url).pathname}: ${response.status} ${text.slice(0, 300)}`)
  return text === '' ? null : JSON.parse(text)
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at a time. */
export async function inParallel<T> (count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++
      results[index] = await task(index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  return results
}

export async function registerAccounts (baseUrl: string, count: number, tag: string, concurrency = 4): Promise<Account[]> {
  return await inParallel(count, concurrency, async (index) => {
    const account = benchAccount(index, tag)
    await post(`${baseUrl}/v1/app/auth/register`, account, 201)
    return account
  })
}

export async function login (baseUrl: string, account: Account): Promise<Tokens> {
  const body = await post(`${baseUrl}/v1/app/auth/login`, { login: account.email, password: account.password }, 200) as { tokens: Tokens }
  return { access: body.tokens.access, refresh: body.tokens.refresh }
}

/** `count` logins spread over the accounts: every one a new session with its own tokens. */
export async function loginMany (baseUrl: string, accounts: Account[], count: number, concurrency = 8): Promise<Tokens[]> {
  return await inParallel(count, concurrency, async (index) => await login(baseUrl, accounts[index % accounts.length] as Account))
}
