// A FIFO of refresh tokens: each is handed out once, never again. The refresh scenario takes
// one per request and puts back the new one each answer carries.
export class TokenQueue {
  private items: string[]
  private head = 0
  private readonly seen: Set<string>
  /** Tokens handed out so far. */
  taken = 0
  /**
   * Answers that carried a refresh token already seen. authd answers a token presented twice
   * within the grace window with the same child as the first time, so anything but 0 means a
   * token was presented twice and the run measured replays, not rotations.
   */
  repeated = 0

  constructor (tokens: string[]) {
    this.items = [...tokens]
    this.seen = new Set(tokens)
  }

  get size (): number {
    return this.items.length - this.head
  }

  take (): string | undefined {
    if (this.head === this.items.length) return undefined
    const token = this.items[this.head++]
    this.taken++
    // Drop the consumed front now and then, so a long run does not keep every token.
    if (this.head > 10_000 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return token
  }

  put (token: string): void {
    if (this.seen.has(token)) {
      this.repeated++
      return
    }
    this.seen.add(token)
    this.items.push(token)
  }
}
