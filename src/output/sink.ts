/**
 * Buffered text output: serialised records are encoded straight into a large byte buffer and
 * handed to the stream a chunk at a time, respecting backpressure. Appending to one big string
 * and encoding it at flush time cost more than producing the records (measured with
 * `npm run bench`'s capture: string flattening and UTF-8 encoding dominated the output path).
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';

const CHUNK = 256 * 1024;

export class TextSink {
  /** Written up to `pos`; encoders that write bytes in place (`reserve`) advance `pos` themselves. */
  buf = Buffer.allocUnsafe(CHUNK);
  pos = 0;

  constructor(private readonly out: Writable) {}

  write(s: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 unit: flush unless the worst case fits.
    if (this.pos + s.length * 3 > this.buf.length) {
      this.flush();
      if (s.length * 3 > this.buf.length) {
        this.handOver(Buffer.from(s, 'utf8'));
        return;
      }
    }
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /**
   * Room for `n` more bytes in `buf` from `pos`, for an encoder that writes them in place; false
   * when `n` is more than a buffer holds (write a string instead).
   */
  reserve(n: number): boolean {
    if (n > CHUNK) return false;
    if (this.pos + n > this.buf.length) this.flush();
    return true;
  }

  /** Hands the buffered bytes to the stream; chains on 'drain' when the stream is full. */
  flush(): void {
    if (this.pos === 0) return;
    const chunk = this.buf.subarray(0, this.pos);
    // The stream keeps the chunk until written: start a fresh buffer rather than reuse it.
    this.buf = Buffer.allocUnsafe(CHUNK);
    this.pos = 0;
    this.handOver(chunk);
  }

  private handOver(chunk: Buffer): void {
    this.out.write(chunk);
  }

  /** A promise to wait on while the stream holds more than its high-water mark; undefined when it does not. */
  congestion(): Promise<void> | undefined {
    return this.out.writableNeedDrain ? this.drain() : undefined;
  }

  /** Resolves once the stream has taken everything written so far into its buffer. */
  async drain(): Promise<void> {
    this.flush();
    // One 'drain' follows however many writes overflowed, so wait on the stream's state, not per write.
    while (this.out.writableNeedDrain) await once(this.out, 'drain');
  }

  async end(): Promise<void> {
    await this.drain();
    const out = this.out;
    if (out === (process.stdout as unknown as Writable) || out === (process.stderr as unknown as Writable)) {
      // stdout/stderr must not be ended. Pipes are asynchronous: wait until our bytes are out,
      // so that what follows on stderr comes after them.
      await new Promise<void>((resolve) => out.write('', () => resolve()));
      return;
    }
    await new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.end(() => resolve());
    });
  }
}
