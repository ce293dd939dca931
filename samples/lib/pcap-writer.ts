/**
 * Streaming classic-pcap writer (https://www.tcpdump.org/manpages/pcap-savefile.5.html).
 *
 * Records are copied into large chunks and handed to the stream a chunk at a time, because one
 * `write()` per packet costs far more than the copy. Backpressure follows Node's stream
 * convention: `write()` returns false once the stream's buffer is full and the caller awaits
 * `drain()`; memory therefore stays bounded by the stream's highWaterMark plus one chunk.
 */
import * as fs from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';

import { pcapFileHeader, type PcapHeaderOptions } from '../../parsers/capture/pcap-writer';

export { PCAP_MAGIC_US, PCAP_MAGIC_NS, pcapFileHeader } from '../../parsers/capture/pcap-writer';

export interface PcapWriterOptions extends PcapHeaderOptions {
  /** Bytes per chunk handed to the stream (default 1 MiB). */
  chunkBytes?: number;
}

export class PcapWriter {
  /** Records written so far. */
  packets = 0;
  /** File bytes produced so far (header included). */
  bytes = 0;

  private readonly nanosecond: boolean;
  private readonly snaplen: number;
  private readonly chunkBytes: number;
  private chunk: Buffer;
  private used = 0;
  private needDrain = false;
  private error: Error | undefined;

  constructor(
    private readonly stream: Writable,
    opts: PcapWriterOptions = {},
  ) {
    this.nanosecond = opts.nanosecond ?? false;
    this.snaplen = opts.snaplen ?? 262144;
    this.chunkBytes = Math.max(opts.chunkBytes ?? 1 << 20, 64 * 1024);
    this.chunk = Buffer.allocUnsafe(this.chunkBytes);
    stream.on('error', (e: Error) => {
      this.error = e;
    });
    const h = pcapFileHeader(opts);
    h.copy(this.chunk, 0);
    this.used = h.length;
    this.bytes = h.length;
  }

  /** Opens `path` for writing (truncating it). */
  static create(path: string, opts: PcapWriterOptions = {}): PcapWriter {
    return new PcapWriter(fs.createWriteStream(path), opts);
  }

  /**
   * Appends one record. `tsFrac` is microseconds, or nanoseconds for a nanosecond file.
   * Returns false when the caller should `await drain()` before writing more.
   */
  write(data: Buffer, tsSec: number, tsFrac: number, origLen = data.length): boolean {
    if (this.error) throw this.error;
    const caplen = Math.min(data.length, this.snaplen);
    const need = 16 + caplen;
    if (this.used + need > this.chunkBytes) this.flush();
    if (need > this.chunkBytes) {
      // Oversized record (only with a tiny chunk size): send it on its own.
      const rec = Buffer.allocUnsafe(need);
      this.header(rec, 0, tsSec, tsFrac, caplen, origLen);
      data.copy(rec, 16, 0, caplen);
      this.push(rec);
    } else {
      this.header(this.chunk, this.used, tsSec, tsFrac, caplen, origLen);
      data.copy(this.chunk, this.used + 16, 0, caplen);
      this.used += need;
    }
    this.packets++;
    this.bytes += need;
    return !this.needDrain;
  }

  /** Appends one record stamped with integer microseconds since the epoch. */
  writeUs(data: Buffer, tsUs: number): boolean {
    const sec = Math.floor(tsUs / 1e6);
    const us = tsUs - sec * 1e6;
    return this.write(data, sec, this.nanosecond ? us * 1000 : us);
  }

  /** Resolves once the stream has room again (immediately when it already has). */
  async drain(): Promise<void> {
    if (this.error) throw this.error;
    if (!this.needDrain) return;
    await once(this.stream, 'drain');
    this.needDrain = false;
    if (this.error) throw this.error;
  }

  /** Flushes what is buffered and ends the stream; resolves when the data is on disk (finish). */
  async close(): Promise<void> {
    this.flush();
    const done = once(this.stream, 'finish');
    this.stream.end();
    await done;
    if (this.error) throw this.error;
  }

  private header(b: Buffer, at: number, tsSec: number, tsFrac: number, caplen: number, origLen: number): void {
    b.writeUInt32LE(tsSec >>> 0, at);
    b.writeUInt32LE(tsFrac >>> 0, at + 4);
    b.writeUInt32LE(caplen, at + 8);
    b.writeUInt32LE(Math.max(origLen, caplen), at + 12);
  }

  private flush(): void {
    if (this.used === 0) return;
    // The stream keeps a reference to what it was given, so the chunk cannot be reused.
    this.push(this.chunk.subarray(0, this.used));
    this.chunk = Buffer.allocUnsafe(this.chunkBytes);
    this.used = 0;
  }

  private push(b: Buffer): void {
    if (!this.stream.write(b)) this.needDrain = true;
  }
}

/** In-memory pcap of a few packets (tests, small fixtures). */
export function encodePcap(packets: { data: Buffer; tsUs: number }[], opts: PcapWriterOptions = {}): Buffer {
  const parts: Buffer[] = [pcapFileHeader(opts)];
  for (const p of packets) {
    const h = Buffer.alloc(16);
    const sec = Math.floor(p.tsUs / 1e6);
    const us = p.tsUs - sec * 1e6;
    h.writeUInt32LE(sec, 0);
    h.writeUInt32LE(opts.nanosecond ? us * 1000 : us, 4);
    h.writeUInt32LE(p.data.length, 8);
    h.writeUInt32LE(p.data.length, 12);
    parts.push(h, p.data);
  }
  return Buffer.concat(parts);
}
