// Finds the end-of-step token in one output stream of the VM's agent: the bytes before it are the
// step's output, forwarded as they arrive; only a tail that could be the start of the token is held
// back, and the token itself is never forwarded.

export class TokenScanner {
  private readonly token: Buffer;
  private held: Buffer = Buffer.alloc(0);
  private foundValue = false;

  constructor(token: string) {
    this.token = Buffer.from(token);
    if (this.token.length === 0) throw new Error('TokenScanner: empty token');
  }

  /** Whether the token has been seen; what arrives after it is dropped. */
  get found(): boolean {
    return this.foundValue;
  }

  /** The bytes of `chunk` (with any held before it) that are certainly output. */
  push(chunk: Buffer): Buffer {
    if (this.foundValue) return Buffer.alloc(0);
    const data = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    const at = data.indexOf(this.token);
    if (at >= 0) {
      this.foundValue = true;
      this.held = Buffer.alloc(0);
      return data.subarray(0, at);
    }
    const keep = this.partialTokenAtEnd(data);
    this.held = Buffer.from(data.subarray(data.length - keep));
    return data.subarray(0, data.length - keep);
  }

  /** The length of the longest end of `data` that is a proper prefix of the token. */
  private partialTokenAtEnd(data: Buffer): number {
    const first = this.token[0]!;
    for (let start = Math.max(0, data.length - this.token.length + 1); start < data.length; start++) {
      if (data[start] !== first) continue;
      const tail = data.subarray(start);
      if (this.token.subarray(0, tail.length).equals(tail)) return tail.length;
    }
    return 0;
  }
}
