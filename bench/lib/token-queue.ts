// A FIFO of refresh tokens: each is handed out once, never again. The refresh scenario takes
// one per request and puts back the new one each answer carries.
export class TokenQueue {
  private items: string[]
  private head = 0
  /** Tokens handed out so far. */
  taken = 0

  constructor (tokens: string[]) {
    this.items = [...tokens]
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
    this.items.push(token)
  }
}
