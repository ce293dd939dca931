/**
 * The packet ring of a live capture, as Arkime keeps one: every captured packet is written, as it
 * arrives, into pcap segment files in one directory; a segment is closed at a size, and the oldest
 * go when the ring would pass its total size or when their newest packet is older than the age
 * bound. Beside each segment an index files its packets by connection uid, so one connection's
 * packets are cut out later by offset, without decoding anything again.
 *
 * Files: `seg-NNNNNNNNNNNN.pcap` (nanosecond pcap, our own header, records as captured) and
 * `seg-NNNNNNNNNNNN.idx`: an 8-byte header (`EWRI`, version 1), then append-only records
 * `[u32 body length][u32 CRC-32 of body][body]`, body = `[u8 uid length][uid][u32 n][n x u32
 * offset of a packet record in the pcap]`, all little-endian. The index is appended only after the
 * pcap bytes it points at were written, and a reader stops at the first record that is torn or
 * fails its checksum: a crash loses at most the last flush (a second at most, see flush()). A new
 * run never appends to an old segment; it starts a new one after the highest number it finds.
 *
 * Memory: one write buffer and the index entries since the last flush (both bounded by the flush
 * size). The packet's bytes are copied once, into the buffer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import * as zlib from 'node:zlib';
import { pcapHeader } from '../../parsers/capture/pcap-writer';
import type { CapturedPacket } from '../../parsers/capture/types';

export const RING_INDEX_MAGIC = 0x49525745; // 'EWRI' read as little-endian u32
const INDEX_VERSION = 1;
const INDEX_HEADER = 8;
const PCAP_HEADER = 24;
const RECORD_HEADER = 16;
/** An index record longer than this is corrupt, whatever its checksum says. */
const MAX_INDEX_BODY = 64 * 1024 * 1024;
const SEGMENT_NAME = /^seg-(\d{12})\.pcap$/;
const MiB = 1024 * 1024;

export interface RingOptions {
  dir: string;
  /** Bytes of all segments with their indexes; the oldest segments are deleted beyond it. */
  maxBytes: number;
  /** A segment is closed before it passes this size (default: an eighth of maxBytes, 1-256 MiB). */
  segmentBytes?: number;
  /** Segments whose newest packet is older than this many seconds are deleted (default: no age bound). */
  maxAgeSec?: number;
  /** Seconds since the epoch, against which age is measured (with the newest packet's time, whichever is later). */
  now?: () => number;
  /** Bytes buffered before they are written (default 1 MiB). */
  flushBytes?: number;
}

export interface RingStats {
  /** Segments on disk, the one being written included. */
  segments: number;
  /** Bytes on disk (pcap and index) plus those buffered. */
  bytes: number;
  packetsWritten: number;
  segmentsDeleted: number;
}

interface Segment {
  seq: number;
  pcap: string;
  idx: string;
  bytes: number;
  /** Seconds: its newest packet (a segment found on disk: the pcap's modification time). */
  lastTs: number;
}

function segmentName(seq: number): string {
  return `seg-${String(seq).padStart(12, '0')}`;
}

export function defaultSegmentBytes(maxBytes: number): number {
  return Math.max(Math.min(Math.floor(maxBytes / 8), 256 * MiB), Math.min(MiB, maxBytes));
}

/** Segments in a ring directory, oldest first. */
function listSegments(dir: string): Segment[] {
  const out: Segment[] = [];
  for (const name of fs.readdirSync(dir)) {
    const m = SEGMENT_NAME.exec(name);
    if (!m) continue;
    const pcap = path.join(dir, name);
    const idx = pcap.replace(/\.pcap$/, '.idx');
    let st: fs.Stats;
    try {
      st = fs.statSync(pcap);
    } catch {
      continue; // deleted by the writer meanwhile
    }
    let idxBytes = 0;
    try {
      idxBytes = fs.statSync(idx).size;
    } catch {
      // a segment without an index holds no connection's packets we can find: still counted for size
    }
    out.push({ seq: Number(m[1]), pcap, idx, bytes: st.size + idxBytes, lastTs: st.mtimeMs / 1000 });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

export class PacketRing {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly maxAgeSec: number;
  private readonly now: () => number;
  private readonly buf: Buffer;
  private bufLen = 0;
  /** Closed segments, oldest first. */
  private readonly closed: Segment[];
  private closedBytes = 0;
  private nextSeq: number;
  /** The segment being written, or none until the next packet. */
  private cur: Segment | null = null;
  private pcapFd = -1;
  private idxFd = -1;
  private linktype = -1;
  /** Bytes of the current pcap segment, the buffered included: the offset of the next record. */
  private pcapBytes = 0;
  private idxBytes = 0;
  /** Index entries not yet written: offsets by uid, and the bytes they will take. */
  private pending = new Map<string, number[]>();
  private pendingIdxBytes = 0;
  private newestTs = 0;
  readonly stats: RingStats = { segments: 0, bytes: 0, packetsWritten: 0, segmentsDeleted: 0 };

  constructor(o: RingOptions) {
    if (!(o.maxBytes > 0)) throw new Error('the ring size must be positive');
    this.dir = o.dir;
    this.maxBytes = o.maxBytes;
    this.segmentBytes = o.segmentBytes ?? defaultSegmentBytes(o.maxBytes);
    if (this.segmentBytes > o.maxBytes) throw new Error(`the segment size ${this.segmentBytes} is larger than the ring size ${o.maxBytes}`);
    if (this.segmentBytes < 4096) throw new Error(`the segment size must be at least 4096 bytes, got ${this.segmentBytes}`);
    // Index offsets are u32.
    if (this.segmentBytes > 0xffffffff) throw new Error(`the segment size must be below 4 GiB, got ${this.segmentBytes}`);
    this.maxAgeSec = o.maxAgeSec ?? 0;
    this.now = o.now ?? ((): number => Date.now() / 1000);
    this.buf = Buffer.allocUnsafe(o.flushBytes ?? MiB);
    fs.mkdirSync(this.dir, { recursive: true });
    this.closed = listSegments(this.dir);
    for (const s of this.closed) this.closedBytes += s.bytes;
    this.nextSeq = this.closed.length > 0 ? this.closed[this.closed.length - 1].seq + 1 : 1;
    this.prune(0);
    this.updateStats();
  }

  /** One captured packet and the connections it belongs to (the pipeline's onPacket hook). */
  write(p: CapturedPacket, uids: readonly string[], n: number): void {
    const rec = RECORD_HEADER + p.caplen;
    let idxGrowth = 0;
    for (let i = 0; i < n; i++) idxGrowth += this.pending.has(uids[i]) ? 4 : 13 + uids[i].length;
    if (this.cur !== null && (p.linktype !== this.linktype || (this.pcapBytes > PCAP_HEADER && this.segmentSize() + rec + idxGrowth > this.segmentBytes))) {
      this.rotate();
    }
    if (this.cur === null) this.open(p.linktype);
    if (this.bufLen + rec > this.buf.length) this.flushPcap();
    const offset = this.pcapBytes;
    if (rec > this.buf.length) {
      // Larger than the buffer: written as it is (the buffer is empty now, so the order holds).
      const h = Buffer.allocUnsafe(RECORD_HEADER);
      this.recordHeader(h, 0, p);
      fs.writeSync(this.pcapFd, h);
      fs.writeSync(this.pcapFd, p.buf, p.offset, p.caplen);
    } else {
      this.recordHeader(this.buf, this.bufLen, p);
      p.buf.copy(this.buf, this.bufLen + RECORD_HEADER, p.offset, p.offset + p.caplen);
      this.bufLen += rec;
    }
    this.pcapBytes += rec;
    for (let i = 0; i < n; i++) {
      const l = this.pending.get(uids[i]);
      if (l) l.push(offset);
      else this.pending.set(uids[i], [offset]);
    }
    this.pendingIdxBytes += idxGrowth;
    const ts = p.tsSec + p.tsNsec / 1e9;
    if (ts > this.newestTs) this.newestTs = ts;
    const cur = this.cur as Segment;
    if (ts > cur.lastTs) cur.lastTs = ts;
    this.stats.packetsWritten++;
    // The index must not fall behind a whole buffer: a crash would lose more than a flush.
    if (this.pendingIdxBytes > this.buf.length / 4) this.flush();
  }

  /**
   * Writes what is buffered, packets before the index entries that point at them. The capture
   * calls it on its clock tick (twice a second), so the ring on disk trails the stream by that.
   * Then deletes what is older than the age bound, the segment being written included.
   */
  flush(): void {
    if (this.cur === null) return;
    this.flushPcap();
    if (this.pending.size > 0) {
      const parts: Buffer[] = [];
      for (const [uid, offsets] of this.pending) {
        const uidLen = Buffer.byteLength(uid, 'latin1');
        const body = Buffer.allocUnsafe(1 + uidLen + 4 + 4 * offsets.length);
        body[0] = uidLen;
        body.write(uid, 1, 'latin1');
        body.writeUInt32LE(offsets.length, 1 + uidLen);
        let o = 5 + uidLen;
        for (const off of offsets) {
          body.writeUInt32LE(off, o);
          o += 4;
        }
        const head = Buffer.allocUnsafe(8);
        head.writeUInt32LE(body.length, 0);
        head.writeUInt32LE(zlib.crc32(body), 4);
        parts.push(head, body);
      }
      const all = Buffer.concat(parts);
      fs.writeSync(this.idxFd, all);
      this.idxBytes += all.length;
      this.pending = new Map();
      this.pendingIdxBytes = 0;
    }
    this.updateStats();
  }

  /** Flushes and applies the age bound; for the capture's clock tick. */
  tick(): void {
    this.flush();
    if (this.maxAgeSec > 0 && this.cur !== null && this.cur.lastTs < this.ageRef() - this.maxAgeSec) {
      // Nothing arrived for longer than the age bound: the segment being written is too old as a whole.
      this.rotate();
    } else {
      this.prune(this.cur === null ? 0 : this.segmentBytes);
    }
    this.updateStats();
  }

  close(): void {
    if (this.cur !== null) {
      this.flush();
      this.closeCurrent();
    }
    this.updateStats();
  }

  private ageRef(): number {
    return Math.max(this.now(), this.newestTs);
  }

  private segmentSize(): number {
    return this.pcapBytes + this.idxBytes + this.pendingIdxBytes;
  }

  private recordHeader(b: Buffer, at: number, p: CapturedPacket): void {
    b.writeUInt32LE(p.tsSec >>> 0, at);
    b.writeUInt32LE(p.tsNsec >>> 0, at + 4);
    b.writeUInt32LE(p.caplen >>> 0, at + 8);
    b.writeUInt32LE(p.origlen >>> 0, at + 12);
  }

  private flushPcap(): void {
    if (this.bufLen === 0) return;
    let done = 0;
    while (done < this.bufLen) done += fs.writeSync(this.pcapFd, this.buf, done, this.bufLen - done);
    this.bufLen = 0;
  }

  private open(linktype: number): void {
    // Room for the segment about to be written comes first.
    this.prune(this.segmentBytes);
    const seq = this.nextSeq++;
    const base = path.join(this.dir, segmentName(seq));
    // 'wx': a second agent writing into the same directory fails here instead of interleaving.
    this.pcapFd = fs.openSync(`${base}.pcap`, 'wx');
    this.idxFd = fs.openSync(`${base}.idx`, 'wx');
    fs.writeSync(this.pcapFd, pcapHeader(linktype));
    const ih = Buffer.alloc(INDEX_HEADER);
    ih.writeUInt32LE(RING_INDEX_MAGIC, 0);
    ih.writeUInt32LE(INDEX_VERSION, 4);
    fs.writeSync(this.idxFd, ih);
    this.linktype = linktype;
    this.pcapBytes = PCAP_HEADER;
    this.idxBytes = INDEX_HEADER;
    this.cur = { seq, pcap: `${base}.pcap`, idx: `${base}.idx`, bytes: 0, lastTs: 0 };
  }

  private closeCurrent(): void {
    const cur = this.cur as Segment;
    fs.closeSync(this.pcapFd);
    fs.closeSync(this.idxFd);
    cur.bytes = this.pcapBytes + this.idxBytes;
    this.closed.push(cur);
    this.closedBytes += cur.bytes;
    this.cur = null;
    this.pcapFd = this.idxFd = -1;
    this.linktype = -1;
  }

  private rotate(): void {
    this.flush();
    this.closeCurrent();
    this.prune(0);
  }

  /** Deletes the oldest closed segments until `room` more bytes fit, and those past the age bound. */
  private prune(room: number): void {
    const minTs = this.maxAgeSec > 0 ? this.ageRef() - this.maxAgeSec : -Infinity;
    while (this.closed.length > 0 && (this.closedBytes + room > this.maxBytes || this.closed[0].lastTs < minTs)) {
      const s = this.closed.shift() as Segment;
      this.closedBytes -= s.bytes;
      // The index first: a reader never finds entries whose packets are gone.
      fs.rmSync(s.idx, { force: true });
      fs.rmSync(s.pcap, { force: true });
      this.stats.segmentsDeleted++;
    }
  }

  private updateStats(): void {
    this.stats.segments = this.closed.length + (this.cur !== null ? 1 : 0);
    this.stats.bytes = this.closedBytes + (this.cur !== null ? this.segmentSize() : 0);
  }
}

// ---- reading the ring --------------------------------------------------------------------------

export class RingIndexError extends Error {}

/**
 * The offsets of the packets of `uids` in one index file, read up to its first torn or corrupt
 * record (what a crash leaves). `torn` says where the sound part ends, when it does before the end.
 */
export function readRingIndex(buf: Buffer, file: string, uids: ReadonlySet<string>): { offsets: number[]; torn: number | null } {
  if (buf.length < INDEX_HEADER || buf.readUInt32LE(0) !== RING_INDEX_MAGIC) {
    throw new RingIndexError(`${file}: not a ring index (no EWRI header)`);
  }
  if (buf.readUInt32LE(4) !== INDEX_VERSION)
    throw new RingIndexError(`${file}: ring index version ${buf.readUInt32LE(4)}, this eastwatch reads ${INDEX_VERSION}`);
  const offsets: number[] = [];
  let at = INDEX_HEADER;
  while (at < buf.length) {
    if (at + 8 > buf.length) return { offsets, torn: at };
    const len = buf.readUInt32LE(at);
    const end = at + 8 + len;
    if (len < 6 || len > MAX_INDEX_BODY || end > buf.length) return { offsets, torn: at };
    const body = buf.subarray(at + 8, end);
    if (zlib.crc32(body) !== buf.readUInt32LE(at + 4)) return { offsets, torn: at };
    const uidLen = body[0];
    const n = 5 + uidLen <= body.length ? body.readUInt32LE(1 + uidLen) : -1;
    if (n < 0 || 5 + uidLen + 4 * n !== body.length) return { offsets, torn: at };
    if (uids.has(body.toString('latin1', 1, 1 + uidLen))) {
      for (let i = 0, o = 5 + uidLen; i < n; i++, o += 4) offsets.push(body.readUInt32LE(o));
    }
    at = end;
  }
  return { offsets, torn: null };
}

/** Whether any index of the ring files a packet of `uid` (a segment being deleted meanwhile counts as none). */
export async function ringHolds(dir: string, uid: string): Promise<boolean> {
  if (!fs.existsSync(dir)) return false;
  const want = new Set([uid]);
  for (const seg of listSegments(dir)) {
    let idx: Buffer;
    try {
      idx = await fs.promises.readFile(seg.idx);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    if (idx.length >= INDEX_HEADER && readRingIndex(idx, seg.idx, want).offsets.length > 0) return true;
  }
  return false;
}

export interface RingExtractOptions {
  maxPackets?: number;
  maxBytes?: number;
}

export interface RingExtractResult {
  packets: number;
  bytes: number;
  /** Segments that held packets of the connections. */
  segments: number;
  /** Packets left out because their segment's link type differs from the first one's (pcap has one per file). */
  otherLinktype: number;
  /** Index entries whose packet is not in its segment (torn by a crash): skipped. */
  unreadable: number;
  /** Index files whose tail was torn or corrupt (read up to there). */
  tornIndexes: number;
  truncated: boolean;
}

/**
 * The packets of the connections `uids` from the ring in `dir`, oldest first, as one nanosecond
 * pcap on `out` (the header alone when none is kept). Streams with backpressure; a segment the
 * writer deletes meanwhile is skipped.
 */
export async function extractFromRing(dir: string, uids: readonly string[], out: Writable, o: RingExtractOptions = {}): Promise<RingExtractResult> {
  const maxPackets = o.maxPackets ?? 1_000_000;
  const maxBytes = o.maxBytes ?? 1024 * MiB;
  const want = new Set(uids);
  const res: RingExtractResult = { packets: 0, bytes: 0, segments: 0, otherLinktype: 0, unreadable: 0, tornIndexes: 0, truncated: false };
  let linktype = -1;
  // A destination closed mid-way (a client gone) never drains: the next write fails instead.
  const write = async (b: Buffer): Promise<void> => {
    if (out.destroyed || out.writableEnded) throw new Error('the destination of the pcap was closed');
    if (out.write(b)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        out.off('drain', done);
        out.off('close', done);
        resolve();
      };
      out.on('drain', done);
      out.on('close', done);
    });
  };
  if (!fs.existsSync(dir)) throw new RingIndexError(`${dir}: no such ring directory`);
  for (const seg of listSegments(dir)) {
    if (res.truncated) break;
    let idx: Buffer;
    try {
      idx = await fs.promises.readFile(seg.idx);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    // The segment being written may have an index shorter than its header for a moment.
    if (idx.length < INDEX_HEADER) continue;
    const { offsets, torn } = readRingIndex(idx, seg.idx, want);
    if (torn !== null) res.tornIndexes++;
    if (offsets.length === 0) continue;
    // A packet of two wanted connections (a tunnel and its inner flow) is written once, in order.
    offsets.sort((a, b) => a - b);
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(seg.pcap, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    try {
      const size = (await fh.stat()).size;
      const fileHead = Buffer.alloc(PCAP_HEADER);
      if ((await fh.read(fileHead, 0, PCAP_HEADER, 0)).bytesRead < PCAP_HEADER) {
        res.unreadable += offsets.length;
        continue;
      }
      const segLinktype = fileHead.readUInt32LE(20);
      if (linktype === -1) {
        linktype = segLinktype;
        await write(pcapHeader(linktype));
      } else if (segLinktype !== linktype) {
        res.otherLinktype += offsets.length;
        continue;
      }
      res.segments++;
      const head = Buffer.alloc(RECORD_HEADER);
      let prev = -1;
      for (const off of offsets) {
        if (off === prev) continue;
        prev = off;
        if (off < PCAP_HEADER || off + RECORD_HEADER > size) {
          res.unreadable++;
          continue;
        }
        await fh.read(head, 0, RECORD_HEADER, off);
        const caplen = head.readUInt32LE(8);
        if (off + RECORD_HEADER + caplen > size) {
          res.unreadable++;
          continue;
        }
        if (res.packets >= maxPackets || res.bytes + caplen > maxBytes) {
          res.truncated = true;
          break;
        }
        const rec = Buffer.allocUnsafe(RECORD_HEADER + caplen);
        head.copy(rec, 0);
        await fh.read(rec, RECORD_HEADER, caplen, off + RECORD_HEADER);
        res.packets++;
        res.bytes += caplen;
        await write(rec);
      }
    } finally {
      await fh.close();
    }
  }
  if (linktype === -1) await write(pcapHeader(1));
  return res;
}
