/**
 * Buffered text output: records are serialised into a string buffer and written in large
 * chunks, respecting backpressure, so that output never dominates the analysis cost.
 */
import type { Writable } from 'node:stream';

const FLUSH_AT = 256 * 1024;

export class TextSink {
  private buf = '';
  private pending: Promise<void> = Promise.resolve();

  constructor(private readonly out: Writable) {}

  write(s: string): void {
    this.buf += s;
    if (this.buf.length >= FLUSH_AT) this.flush();
  }

  /** Hands the buffered text to the stream; chains on 'drain' when the stream is full. */
  flush(): void {
    if (this.buf.length === 0) return;
    const chunk = this.buf;
    this.buf = '';
    if (!this.out.write(chunk)) {
      this.pending = this.pending.then(() => new Promise<void>((resolve) => this.out.once('drain', resolve)));
    }
  }

  /** Resolves once everything written so far has been accepted by the stream. */
  async drain(): Promise<void> {
    this.flush();
    await this.pending;
  }

  async end(): Promise<void> {
    await this.drain();
    const out = this.out;
    // stdout/stderr must not be ended; files must be, and their 'finish' awaited.
    if (out === (process.stdout as unknown as Writable) || out === (process.stderr as unknown as Writable)) {
      // Pipes are asynchronous: wait until our bytes are out, so what follows on stderr comes after them.
      await new Promise<void>((resolve) => out.write('', () => resolve()));
      return;
    }
    await new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.end(() => resolve());
    });
  }
}
