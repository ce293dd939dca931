/**
 * Entry point for reading capture files: sniffs gzip / pcap / pcapng from the magic bytes and
 * streams the file through the matching push parser (ours, or pcap-parser when asked for) with
 * bounded memory (one read chunk plus one record/block, never the whole file), from a path or
 * from any readable stream (uploads).
 *
 * On corruption every packet before the fault is delivered, then the promise rejects with a
 * CaptureError (file, decompressed byte offset of the faulty record, record number).
 */
import * as fs from 'node:fs';
import { availableParallelism } from 'node:os';
import * as zlib from 'node:zlib';
import { Readable, pipeline } from 'node:stream';
import * as pcapParser from 'pcap-parser';
import { CaptureError, type CapturedPacket, type CaptureFormat, type CaptureSummary, type ReadOptions } from './types';
import {
  DEFAULT_MAX_PACKET_BYTES,
  PCAP_GLOBAL_HEADER_BYTES,
  PCAP_RECORD_HEADER_BYTES,
  type PcapMagic,
  PcapParser,
  newCapturedPacket,
  sniffPcapMagic,
} from './pcap';
import { PcapngParser } from './pcapng';

export const READ_CHUNK_BYTES = 4 << 20;
export const PROGRESS_EVERY_BYTES = 4 << 20;
/** Enough to see every magic and a whole pcap file header in the first chunk. */
const SNIFF_BYTES = PCAP_GLOBAL_HEADER_BYTES;
const GUNZIP_CHUNK_BYTES = 64 * 1024;
const PCAPNG_MAGIC = 0x0a0d0d0a;

export interface OpenOptions extends ReadOptions {
  /** Read chunk size for readCapture (default 1 MiB); tiny values exercise chunk-boundary handling. */
  highWaterMark?: number;
  /**
   * Read the next chunk on libuv's thread pool while this one is parsed (reusedChunks), or read
   * synchronously (syncChunks). By default ahead only when the process has more than one CPU.
   */
  readAhead?: boolean;
}

export type StreamOptions = OpenOptions & {
  /** Size of the input when known (uploads). Informational: the reader does not need it. */
  totalBytes?: number;
};

export async function readCapture(path: string, onPacket: (p: CapturedPacket) => void, opts: OpenOptions = {}): Promise<CaptureSummary> {
  const chunkBytes = opts.highWaterMark ?? READ_CHUNK_BYTES;
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(path, 'r');
  } catch (e) {
    throw new CaptureError(`read error: ${(e as Error).message}`, path, 0);
  }
  try {
    const magic = Buffer.alloc(2);
    const { bytesRead } = await fh.read(magic, 0, 2, 0);
    if ((bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b) || opts.reader === 'pcap-parser') {
      // zlib and pcap-parser hold on to input chunks after we hand them over: give them fresh buffers.
      const stream = fs.createReadStream(path, { highWaterMark: chunkBytes });
      try {
        return await readCaptureStream(stream, path, onPacket, opts);
      } finally {
        stream.destroy();
      }
    }
    const chunks = (opts.readAhead ?? availableParallelism() > 1) ? reusedChunks(fh, chunkBytes) : syncChunks(fh, chunkBytes);
    return await readCaptureStream(chunks, path, onPacket, opts);
  } finally {
    await fh.close();
  }
}

/**
 * Reads a file into two alternating buffers. The parsers deliver packets synchronously and copy
 * a record that straddles chunks into their own carry buffer before asking for the next chunk, so
 * a buffer is free again two reads later. This spares the allocator and the garbage collector a
 * fresh buffer per chunk, which on large captures costs more than the parsing itself.
 */
async function* reusedChunks(fh: fs.promises.FileHandle, chunkBytes: number): AsyncGenerator<Buffer> {
  const bufs = [Buffer.allocUnsafe(chunkBytes), Buffer.allocUnsafe(chunkBytes)];
  let i = 0;
  // One read ahead: the next chunk arrives while the parser works on the current one.
  let pending = fh.read(bufs[0], 0, chunkBytes, null);
  try {
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) return;
      const cur = bufs[i];
      i ^= 1;
      // bufs[i] was yielded two steps ago and its consumer has asked for more since: it is free.
      pending = fh.read(bufs[i], 0, chunkBytes, null);
      yield bytesRead === chunkBytes ? cur : cur.subarray(0, bytesRead);
    }
  } finally {
    // Never leave a read in flight on a handle that is about to be closed.
    await pending.catch(() => undefined);
  }
}

/**
 * Reads a file into one reused buffer, synchronously, for a process given a single CPU (taskset,
 * a container's cpuset): the thread that reads ahead in reusedChunks only takes turns with this
 * one there, and each read's handover between them cost more than it hid (3.5% of the CPU of
 * analyze on the bench's pods capture, taskset -c 1). The parsers are done with a chunk (a
 * straddling record copied out) before they ask for the next.
 */
async function* syncChunks(fh: fs.promises.FileHandle, chunkBytes: number): AsyncGenerator<Buffer> {
  const buf = Buffer.allocUnsafe(chunkBytes);
  for (;;) {
    const bytesRead = fs.readSync(fh.fd, buf, 0, chunkBytes, null);
    if (bytesRead === 0) return;
    yield bytesRead === chunkBytes ? buf : buf.subarray(0, bytesRead);
  }
}

interface Counters {
  /** Bytes read from the input as stored (compressed when gzip). */
  fileBytes: number;
  /** Decompressed bytes handed to the parser. */
  consumed: number;
  nextProgress: number;
}

interface ChunkParser {
  push(chunk: Buffer): void;
  end(): void;
  readonly pendingOffset: number;
  readonly pendingRecord: number;
}

export async function readCaptureStream(
  input: NodeJS.ReadableStream | Readable | AsyncIterable<Buffer>,
  name: string,
  onPacket: (p: CapturedPacket) => void,
  opts: StreamOptions = {},
): Promise<CaptureSummary> {
  const max = opts.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
  const c: Counters = { fileBytes: 0, consumed: 0, nextProgress: PROGRESS_EVERY_BYTES };
  const onProgress = opts.onProgress;
  const progress = onProgress
    ? (): void => {
        if (c.consumed >= c.nextProgress) {
          c.nextProgress = c.consumed + PROGRESS_EVERY_BYTES;
          onProgress(c.consumed, c.fileBytes);
        }
      }
    : (): void => {};

  const raw = countBytes(input as AsyncIterable<unknown>, c);
  let data: AsyncIterator<Buffer> = raw;
  let compressed = false;
  let finished = false;
  const fault = (e: unknown, offset: number, record?: number): Error => streamFault(e, name, compressed, offset, record);
  try {
    let head: Buffer;
    try {
      head = await takeHead(raw, SNIFF_BYTES);
    } catch (e) {
      throw fault(e, 0);
    }
    if (head.length === 0) throw new CaptureError('empty file: not a pcap or pcapng capture', name, 0);
    if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
      compressed = true;
      const gz = zlib.createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES });
      // objectMode + highWaterMark 1: read ahead at most one raw chunk.
      pipeline(Readable.from(chain(head, raw), { objectMode: true, highWaterMark: 1 }), gz, () => {
        // Errors surface through gz's iterator below.
      });
      data = gz[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      try {
        head = await takeHead(data, SNIFF_BYTES);
      } catch (e) {
        throw fault(e, 0, 1);
      }
      if (head.length === 0) throw new CaptureError('empty capture: the gzip stream decompresses to nothing', name, 0);
    }

    let format: CaptureFormat;
    let linktypes: number[];
    let packets: number;
    let skippedBlocks = 0;
    const pcapMagic = sniffPcapMagic(head);
    if (pcapMagic && opts.reader === 'pcap-parser') {
      format = 'pcap';
      const r = await viaPcapParser(head, data, name, onPacket, pcapMagic, max, c, progress, fault, opts.pace);
      packets = r.packets;
      linktypes = r.linktype >= 0 ? [r.linktype] : [];
    } else if (pcapMagic) {
      format = 'pcap';
      const parser = new PcapParser(name, onPacket, max);
      await drive(parser, head, data, c, progress, fault, opts.pace);
      packets = parser.packets;
      linktypes = [parser.linktype];
    } else if (head.length >= 4 && head.readUInt32BE(0) === PCAPNG_MAGIC) {
      format = 'pcapng';
      const parser = new PcapngParser(name, onPacket, max);
      await drive(parser, head, data, c, progress, fault, opts.pace);
      packets = parser.packets;
      linktypes = parser.linktypes.slice();
      skippedBlocks = parser.skippedBlocks;
    } else {
      throw new CaptureError(`not a pcap or pcapng capture (magic 0x${head.toString('hex', 0, Math.min(4, head.length))})`, name, 0);
    }
    finished = true;
    onProgress?.(c.consumed, c.fileBytes);
    return { format, compressed, packets, bytes: c.consumed, linktypes, skippedBlocks };
  } finally {
    if (!finished) {
      // Stop reading: release the file / upload and the gunzip stream.
      release(data);
      if (data !== raw) release(raw);
      const s = input as Partial<Readable>;
      if (typeof s.destroy === 'function') s.destroy();
    }
  }
}

async function drive(
  parser: ChunkParser,
  head: Buffer,
  data: AsyncIterator<Buffer>,
  c: Counters,
  progress: () => void,
  fault: (e: unknown, offset: number, record?: number) => Error,
  pace?: () => Promise<void> | undefined,
): Promise<void> {
  parser.push(head);
  c.consumed += head.length;
  progress();
  for (;;) {
    const wait = pace?.();
    if (wait) await wait;
    let r: IteratorResult<Buffer>;
    try {
      r = await data.next();
    } catch (e) {
      throw fault(e, parser.pendingOffset, parser.pendingRecord);
    }
    if (r.done) break;
    parser.push(r.value);
    c.consumed += r.value.length;
    progress();
  }
  parser.end();
}

/** Classic pcap through the npm package, mapped to our packet and error contracts. */
function viaPcapParser(
  head: Buffer,
  data: AsyncIterator<Buffer>,
  name: string,
  onPacket: (p: CapturedPacket) => void,
  magic: PcapMagic,
  max: number,
  c: Counters,
  progress: () => void,
  fault: (e: unknown, offset: number, record?: number) => Error,
  pace?: () => Promise<void> | undefined,
): Promise<{ packets: number; linktype: number }> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let sourceError: unknown;
    let packets = 0;
    let linktype = -1;
    /** Stream offset of the next record: pcap-parser does not report offsets itself. */
    let off = PCAP_GLOBAL_HEADER_BYTES;
    const p = newCapturedPacket();
    const nsMul = magic.nanosecond ? 1 : 1000;

    async function* feed(): AsyncGenerator<Buffer> {
      try {
        // pcap-parser only knows the microsecond magics: present ns files as µs of the same byte order.
        yield magic.nanosecond ? withMicrosecondMagic(head, magic.littleEndian) : head;
        c.consumed += head.length;
        progress();
        for (;;) {
          const wait = pace?.();
          if (wait) await wait;
          const r = await data.next();
          if (r.done) return;
          c.consumed += r.value.length;
          progress();
          yield r.value;
        }
      } catch (e) {
        sourceError = e;
        throw e;
      }
    }
    const input = Readable.from(feed(), { objectMode: true, highWaterMark: 1 });

    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      input.destroy();
      reject(err);
    };

    const parser = pcapParser.parse(input);
    parser.on('globalHeader', (h) => {
      linktype = (h.linkLayerType & 0x03ffffff) >>> 0;
      p.linktype = linktype;
    });
    parser.on('packetHeader', (h) => {
      if (h.capturedLength > max) {
        fail(
          new CaptureError(
            `packet record ${packets + 1} claims ${h.capturedLength} captured bytes, more than the maximum of ${max} (corrupt file)`,
            name,
            off,
            packets + 1,
          ),
        );
      }
    });
    parser.on('packet', (pk) => {
      if (settled) return;
      const h = pk.header;
      let sec = h.timestampSeconds;
      let ns = h.timestampMicroseconds * nsMul;
      if (ns >= 1e9) {
        sec += Math.floor(ns / 1e9);
        ns %= 1e9;
      }
      p.buf = pk.data;
      p.offset = 0;
      p.caplen = h.capturedLength;
      p.origlen = h.originalLength;
      p.tsSec = sec;
      p.tsNsec = ns;
      p.fileOffset = off;
      p.index = ++packets;
      off += PCAP_RECORD_HEADER_BYTES + h.capturedLength;
      try {
        onPacket(p);
      } catch (e) {
        fail(e);
      }
    });
    parser.on('error', (e) => {
      if (sourceError !== undefined) fail(fault(sourceError, off, packets + 1));
      else fail(new CaptureError(`pcap-parser: ${e.message}`, name, off, packets + 1));
    });
    parser.on('end', () => {
      if (settled) return;
      if (c.consumed < PCAP_GLOBAL_HEADER_BYTES) {
        fail(new CaptureError(`file ends inside the pcap file header (${c.consumed} of ${PCAP_GLOBAL_HEADER_BYTES} bytes)`, name, 0));
      } else if (off !== c.consumed) {
        fail(new CaptureError(`file ends inside packet record ${packets + 1} at offset ${off} (${c.consumed - off} bytes present)`, name, off, packets + 1));
      } else {
        settled = true;
        resolve({ packets, linktype });
      }
    });
  });
}

function withMicrosecondMagic(head: Buffer, littleEndian: boolean): Buffer {
  const b = Buffer.from(head);
  b.writeUInt32BE(littleEndian ? 0xd4c3b2a1 : 0xa1b2c3d4, 0);
  return b;
}

function streamFault(e: unknown, name: string, compressed: boolean, offset: number, record?: number): Error {
  if (e instanceof CaptureError) return e;
  const err = e as NodeJS.ErrnoException | undefined;
  const code = typeof err?.code === 'string' ? err.code : '';
  const msg = err?.message ?? String(e);
  if (compressed && (code.startsWith('Z_') || err?.syscall === undefined)) {
    return new CaptureError(`gzip data corrupt or truncated: ${msg}`, name, offset, record);
  }
  return new CaptureError(`read error: ${msg}`, name, offset, record);
}

async function* countBytes(input: AsyncIterable<unknown>, c: Counters): AsyncGenerator<Buffer> {
  for await (const chunk of input) {
    const b = asBuffer(chunk);
    c.fileBytes += b.length;
    yield b;
  }
}

function asBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk, 'latin1');
  throw new TypeError(`capture input yielded a ${typeof chunk}, expected bytes`);
}

/** Collect at least `min` bytes (fewer only at end of input); a single chunk is returned as is. */
async function takeHead(it: AsyncIterator<Buffer>, min: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  while (n < min) {
    const r = await it.next();
    if (r.done) break;
    if (r.value.length === 0) continue;
    // File chunks come from two reused buffers: keep our own copy of any we must hold past the next read.
    parts.push(n === 0 && r.value.length >= min ? r.value : Buffer.from(r.value));
    n += r.value.length;
  }
  return parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
}

async function* chain(head: Buffer, it: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  let done = false;
  try {
    yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (!done) release(it);
  }
}

function release(it: AsyncIterator<Buffer>): void {
  it.return?.().catch(() => {
    // Already failed or closed: nothing left to release.
  });
}
