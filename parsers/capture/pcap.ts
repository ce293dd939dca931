/**
 * Classic libpcap file reader as a push parser: feed chunks with push(), finish with end().
 *
 * Records that lie inside one chunk are delivered as a view into that chunk (no copy);
 * only a record that straddles a chunk boundary is assembled in a reusable carry buffer.
 * Memory is bounded by one chunk plus one record, whatever the file size.
 *
 * push()/end() throw CaptureError on corruption; every packet before the fault has been delivered.
 */
import { CaptureError, type CapturedPacket } from './types';

export const PCAP_GLOBAL_HEADER_BYTES = 24;
export const PCAP_RECORD_HEADER_BYTES = 16;
export const DEFAULT_MAX_PACKET_BYTES = 262144;

/** libpcap keeps FCS/extension flags in the upper bits of the header's link-type field. */
const LINKTYPE_MASK = 0x03ffffff;

export interface PcapMagic {
  littleEndian: boolean;
  nanosecond: boolean;
}

/** Recognise the four classic pcap magics (µs/ns, both byte orders) at `off`; undefined otherwise. */
export function sniffPcapMagic(b: Buffer, off = 0): PcapMagic | undefined {
  if (b.length - off < 4) return undefined;
  switch (b.readUInt32BE(off)) {
    case 0xa1b2c3d4:
      return { littleEndian: false, nanosecond: false };
    case 0xd4c3b2a1:
      return { littleEndian: true, nanosecond: false };
    case 0xa1b23c4d:
      return { littleEndian: false, nanosecond: true };
    case 0x4d3cb2a1:
      return { littleEndian: true, nanosecond: true };
    default:
      return undefined;
  }
}

export function newCapturedPacket(): CapturedPacket {
  return {
    buf: Buffer.alloc(0),
    offset: 0,
    caplen: 0,
    origlen: 0,
    tsSec: 0,
    tsNsec: 0,
    linktype: 0,
    interfaceId: 0,
    section: 0,
    fileOffset: 0,
    index: 0,
  };
}

export class PcapParser {
  /** Packets delivered so far. */
  packets = 0;
  /** Header fields, valid once the 24-byte file header has been read. */
  linktype = -1;
  snaplen = 0;
  littleEndian = true;
  nanosecond = false;
  versionMajor = 0;
  versionMinor = 0;

  private readonly pkt: CapturedPacket = newCapturedPacket();
  private headerDone = false;
  /** µs files store microseconds: multiply to get nanoseconds. */
  private tsMul = 1000;
  private carry: Buffer = Buffer.alloc(0);
  private carryLen = 0;
  /** Absolute stream offset of byte 0 of the chunk being pushed. */
  private chunkBase = 0;
  /** Absolute stream offset of the next unit (file header / record) not yet delivered. */
  private unitStart = 0;

  constructor(
    readonly name: string,
    private readonly onPacket: (p: CapturedPacket) => void,
    private readonly maxPacketBytes: number = DEFAULT_MAX_PACKET_BYTES,
  ) {}

  /** Stream offset of the record being assembled (or the next one): where a fault would be. */
  get pendingOffset(): number {
    return this.unitStart;
  }

  /** 1-based number of the record being assembled (or the next one). */
  get pendingRecord(): number {
    return this.packets + 1;
  }

  push(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    if (this.carryLen > 0 || !this.headerDone) {
      pos = this.fill(chunk);
      if (this.carryLen > 0 || !this.headerDone) {
        this.chunkBase += len;
        return;
      }
    }
    pos = this.littleEndian ? this.scanLE(chunk, pos, len) : this.scanBE(chunk, pos, len);
    this.unitStart = this.chunkBase + pos;
    if (pos < len) {
      const rest = len - pos;
      this.ensureCarry(rest);
      chunk.copy(this.carry, 0, pos, len);
      this.carryLen = rest;
    }
    this.chunkBase += len;
  }

  /** Call at end of input: a partial header or record left over is a truncated file. */
  end(): void {
    if (!this.headerDone) {
      throw new CaptureError(`file ends inside the pcap file header (${this.carryLen} of ${PCAP_GLOBAL_HEADER_BYTES} bytes)`, this.name, 0);
    }
    if (this.carryLen > 0) {
      const need = this.carryLen >= PCAP_RECORD_HEADER_BYTES ? PCAP_RECORD_HEADER_BYTES + this.readCaplen(this.carry, 0) : PCAP_RECORD_HEADER_BYTES;
      throw new CaptureError(
        `file ends inside packet record ${this.pendingRecord} at offset ${this.unitStart} (${this.carryLen} of ${need} bytes present)`,
        this.name,
        this.unitStart,
        this.pendingRecord,
      );
    }
  }

  /**
   * Complete the unit held in the carry buffer from the head of `chunk`.
   * Returns how many bytes of `chunk` were taken.
   */
  private fill(chunk: Buffer): number {
    const len = chunk.length;
    let pos = 0;
    for (;;) {
      let need: number;
      if (!this.headerDone) need = PCAP_GLOBAL_HEADER_BYTES;
      else if (this.carryLen < PCAP_RECORD_HEADER_BYTES) need = PCAP_RECORD_HEADER_BYTES;
      else need = PCAP_RECORD_HEADER_BYTES + this.checkedCaplen(this.carry, 0);
      if (this.carryLen < need) {
        const take = Math.min(need - this.carryLen, len - pos);
        this.ensureCarry(need);
        chunk.copy(this.carry, this.carryLen, pos, pos + take);
        this.carryLen += take;
        pos += take;
        if (this.carryLen < need) return pos;
        // A complete record header: its caplen now tells how much body to wait for.
        if (this.headerDone && need === PCAP_RECORD_HEADER_BYTES) continue;
      }
      if (!this.headerDone) this.parseFileHeader(this.carry);
      else this.emit(this.carry, 0, need - PCAP_RECORD_HEADER_BYTES);
      this.unitStart += need;
      this.carryLen = 0;
      return pos;
    }
  }

  private parseFileHeader(b: Buffer): void {
    const m = sniffPcapMagic(b, 0);
    if (!m) {
      throw new CaptureError(`not a pcap capture (magic 0x${b.toString('hex', 0, 4)})`, this.name, 0);
    }
    this.littleEndian = m.littleEndian;
    this.nanosecond = m.nanosecond;
    this.tsMul = m.nanosecond ? 1 : 1000;
    const le = m.littleEndian;
    this.versionMajor = le ? b.readUInt16LE(4) : b.readUInt16BE(4);
    this.versionMinor = le ? b.readUInt16LE(6) : b.readUInt16BE(6);
    if (this.versionMajor !== 2) {
      throw new CaptureError(`unsupported pcap version ${this.versionMajor}.${this.versionMinor}`, this.name, 4);
    }
    this.snaplen = le ? b.readUInt32LE(16) : b.readUInt32BE(16);
    this.linktype = ((le ? b.readUInt32LE(20) : b.readUInt32BE(20)) & LINKTYPE_MASK) >>> 0;
    this.pkt.linktype = this.linktype;
    this.headerDone = true;
  }

  private readCaplen(b: Buffer, pos: number): number {
    return this.littleEndian ? b.readUInt32LE(pos + 8) : b.readUInt32BE(pos + 8);
  }

  private checkedCaplen(b: Buffer, pos: number): number {
    const caplen = this.readCaplen(b, pos);
    if (caplen > this.maxPacketBytes) this.tooBig(caplen, this.unitStart);
    return caplen;
  }

  private tooBig(caplen: number, at: number): never {
    throw new CaptureError(
      `packet record ${this.pendingRecord} claims ${caplen} captured bytes, more than the maximum of ${this.maxPacketBytes} (corrupt file)`,
      this.name,
      at,
      this.pendingRecord,
    );
  }

  /** Deliver the record whose 16-byte header starts at `pos` in `b` (used for carried records). */
  private emit(b: Buffer, pos: number, caplen: number): void {
    const p = this.pkt;
    const le = this.littleEndian;
    let sec = le ? b.readUInt32LE(pos) : b.readUInt32BE(pos);
    let ns = (le ? b.readUInt32LE(pos + 4) : b.readUInt32BE(pos + 4)) * this.tsMul;
    if (ns >= 1e9) {
      // Out-of-range fraction (seen from buggy writers): carry it into the seconds.
      sec += Math.floor(ns / 1e9);
      ns %= 1e9;
    }
    p.buf = b;
    p.offset = pos + PCAP_RECORD_HEADER_BYTES;
    p.caplen = caplen;
    p.origlen = le ? b.readUInt32LE(pos + 12) : b.readUInt32BE(pos + 12);
    p.tsSec = sec;
    p.tsNsec = ns;
    p.fileOffset = this.unitStart;
    p.index = ++this.packets;
    this.onPacket(p);
  }

  // The two scan loops are duplicated per byte order so the hot loop has no per-field branch.

  private scanLE(b: Buffer, pos: number, end: number): number {
    const p = this.pkt;
    const max = this.maxPacketBytes;
    const mul = this.tsMul;
    const base = this.chunkBase;
    const cb = this.onPacket;
    while (end - pos >= PCAP_RECORD_HEADER_BYTES) {
      const caplen = u32le(b, pos + 8);
      if (caplen > max) this.tooBig(caplen, base + pos);
      const next = pos + PCAP_RECORD_HEADER_BYTES + caplen;
      if (next > end) break;
      let sec = u32le(b, pos);
      let ns = u32le(b, pos + 4) * mul;
      if (ns >= 1e9) {
        sec += Math.floor(ns / 1e9);
        ns %= 1e9;
      }
      p.buf = b;
      p.offset = pos + PCAP_RECORD_HEADER_BYTES;
      p.caplen = caplen;
      p.origlen = u32le(b, pos + 12);
      p.tsSec = sec;
      p.tsNsec = ns;
      p.fileOffset = base + pos;
      p.index = ++this.packets;
      cb(p);
      pos = next;
    }
    return pos;
  }

  private scanBE(b: Buffer, pos: number, end: number): number {
    const p = this.pkt;
    const max = this.maxPacketBytes;
    const mul = this.tsMul;
    const base = this.chunkBase;
    const cb = this.onPacket;
    while (end - pos >= PCAP_RECORD_HEADER_BYTES) {
      const caplen = u32be(b, pos + 8);
      if (caplen > max) this.tooBig(caplen, base + pos);
      const next = pos + PCAP_RECORD_HEADER_BYTES + caplen;
      if (next > end) break;
      let sec = u32be(b, pos);
      let ns = u32be(b, pos + 4) * mul;
      if (ns >= 1e9) {
        sec += Math.floor(ns / 1e9);
        ns %= 1e9;
      }
      p.buf = b;
      p.offset = pos + PCAP_RECORD_HEADER_BYTES;
      p.caplen = caplen;
      p.origlen = u32be(b, pos + 12);
      p.tsSec = sec;
      p.tsNsec = ns;
      p.fileOffset = base + pos;
      p.index = ++this.packets;
      cb(p);
      pos = next;
    }
    return pos;
  }

  private ensureCarry(size: number): void {
    if (this.carry.length >= size) return;
    // Grow geometrically but never beyond one maximal record: memory stays bounded.
    const cap = Math.max(size, Math.min(this.carry.length * 2, PCAP_RECORD_HEADER_BYTES + this.maxPacketBytes), 4096);
    const next = Buffer.allocUnsafe(cap);
    this.carry.copy(next, 0, 0, this.carryLen);
    this.carry = next;
  }
}

// The scan loops check that the 16-byte record header is inside the chunk before reading it, so
// these skip Buffer's own per-call bounds checks, which kept the readUInt32 calls from inlining.
function u32le(b: Buffer, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

function u32be(b: Buffer, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}
