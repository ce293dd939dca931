/**
 * pcapng reader as a push parser (push() chunks, then end()).
 *
 * Blocks inside one chunk are read in place; a block that straddles chunks is assembled in a
 * carry buffer bounded by `blockLimit`. Sections may change byte order; interface ids restart
 * in every section. Packet blocks: EPB, SPB, obsolete PB. Everything else is skipped (counted).
 *
 * push()/end() throw CaptureError on corruption; `offset` is the faulty block's stream offset
 * and `record` the 1-based block number.
 */
import { CaptureError, type CapturedPacket } from './types';
import { DEFAULT_MAX_PACKET_BYTES, newCapturedPacket } from './pcap';

export const BLOCK_SHB = 0x0a0d0d0a;
export const BLOCK_IDB = 0x00000001;
export const BLOCK_OPB = 0x00000002;
export const BLOCK_SPB = 0x00000003;
export const BLOCK_EPB = 0x00000006;

const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BLOCK_MIN = 12;
const OPT_ENDOFOPT = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;
const TWO32 = 4294967296;
/** Below this high word, high*2^32+low is an exact double. */
const EXACT_HIGH_LIMIT = 0x200000;

export interface PcapngInterface {
  linktype: number;
  snaplen: number;
  /** Timestamp units per second when they are 10^d with d <= 9 (exact double arithmetic); 0 otherwise. */
  unitsPerSec: number;
  /** Nanoseconds per unit on the decimal path. */
  nsPerUnit: number;
  /** Units per second for every other resolution (2^-n, 10^-d with d > 9): BigInt path. */
  bigUnitsPerSec: bigint;
  /** if_tsoffset: seconds added to every timestamp. */
  offsetSec: number;
}

/** Split a 64-bit count of units into whole seconds and nanoseconds, exactly. */
export function unitsToTime(ifc: PcapngInterface, high: number, low: number, out: { tsSec: number; tsNsec: number }): void {
  const u = ifc.unitsPerSec;
  if (u > 0) {
    let sec: number;
    let rem: number;
    if (high < EXACT_HIGH_LIMIT) {
      const t = high * TWO32 + low;
      sec = Math.floor(t / u);
      rem = t - sec * u;
    } else {
      // Long division in 16-bit digits: every intermediate stays below 2^53 (u <= 1e9 < 2^30).
      rem = high >>> 16;
      sec = Math.floor(rem / u);
      rem -= sec * u;
      let cur = rem * 65536 + (high & 0xffff);
      let q = Math.floor(cur / u);
      rem = cur - q * u;
      sec = sec * 65536 + q;
      cur = rem * 65536 + (low >>> 16);
      q = Math.floor(cur / u);
      rem = cur - q * u;
      sec = sec * 65536 + q;
      cur = rem * 65536 + (low & 0xffff);
      q = Math.floor(cur / u);
      rem = cur - q * u;
      sec = sec * 65536 + q;
    }
    // Guard against a quotient rounded across an integer boundary.
    if (rem < 0) {
      sec -= 1;
      rem += u;
    } else if (rem >= u) {
      sec += 1;
      rem -= u;
    }
    out.tsSec = sec + ifc.offsetSec;
    out.tsNsec = rem * ifc.nsPerUnit;
    return;
  }
  const t = (BigInt(high) << 32n) | BigInt(low);
  const bu = ifc.bigUnitsPerSec;
  const rem = t % bu;
  out.tsSec = Number(t / bu) + ifc.offsetSec;
  out.tsNsec = Number((rem * 1_000_000_000n) / bu);
}

/** Interface timing from the raw if_tsresol byte (undefined option: 6, i.e. microseconds). */
export function makeInterface(linktype: number, snaplen: number, tsresol = 6, offsetSec = 0): PcapngInterface {
  const pow2 = (tsresol & 0x80) !== 0;
  const exp = tsresol & 0x7f;
  if (!pow2 && exp <= 9) {
    return { linktype, snaplen, unitsPerSec: 10 ** exp, nsPerUnit: 10 ** (9 - exp), bigUnitsPerSec: 0n, offsetSec };
  }
  const big = pow2 ? 1n << BigInt(exp) : 10n ** BigInt(exp);
  return { linktype, snaplen, unitsPerSec: 0, nsPerUnit: 0, bigUnitsPerSec: big, offsetSec };
}

export class PcapngParser {
  packets = 0;
  blocks = 0;
  skippedBlocks = 0;
  /** Index of the current section, from 0; -1 before the first SHB. */
  section = -1;
  /** Distinct link types of delivered packets, in order of first appearance. */
  readonly linktypes: number[] = [];

  private interfaces: PcapngInterface[] = [];
  private le = true;
  private readonly pkt: CapturedPacket = newCapturedPacket();
  private readonly blockLimit: number;
  private carry: Buffer = Buffer.alloc(0);
  private carryLen = 0;
  private chunkBase = 0;
  private unitStart = 0;

  constructor(
    readonly name: string,
    private readonly onPacket: (p: CapturedPacket) => void,
    private readonly maxPacketBytes: number = DEFAULT_MAX_PACKET_BYTES,
  ) {
    // Non-packet blocks (name tables, custom data) may exceed one packet, but memory stays bounded.
    this.blockLimit = Math.max(16 * 1024 * 1024, maxPacketBytes + 65536);
  }

  get pendingOffset(): number {
    return this.unitStart;
  }

  get pendingRecord(): number {
    return this.blocks + 1;
  }

  /** Interfaces declared so far in the current section. */
  get currentInterfaces(): readonly PcapngInterface[] {
    return this.interfaces;
  }

  push(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    if (this.carryLen > 0) {
      pos = this.fill(chunk);
      if (this.carryLen > 0) {
        this.chunkBase += len;
        return;
      }
    }
    const base = this.chunkBase;
    while (len - pos >= BLOCK_MIN) {
      this.unitStart = base + pos;
      const blen = this.blockLength(chunk, pos);
      if (len - pos < blen) break;
      this.block(chunk, pos, blen);
      pos += blen;
    }
    this.unitStart = base + pos;
    if (pos < len) {
      const rest = len - pos;
      this.ensureCarry(rest);
      chunk.copy(this.carry, 0, pos, len);
      this.carryLen = rest;
    }
    this.chunkBase += len;
  }

  end(): void {
    if (this.carryLen > 0) {
      throw new CaptureError(
        `file ends inside block ${this.pendingRecord} at offset ${this.unitStart} (${this.carryLen} bytes present)`,
        this.name,
        this.unitStart,
        this.pendingRecord,
      );
    }
  }

  private fill(chunk: Buffer): number {
    const len = chunk.length;
    let pos = 0;
    for (;;) {
      const need = this.carryLen < BLOCK_MIN ? BLOCK_MIN : this.blockLength(this.carry, 0);
      if (this.carryLen < need) {
        const take = Math.min(need - this.carryLen, len - pos);
        this.ensureCarry(need);
        chunk.copy(this.carry, this.carryLen, pos, pos + take);
        this.carryLen += take;
        pos += take;
        if (this.carryLen < need) return pos;
        if (need === BLOCK_MIN && this.blockLength(this.carry, 0) > BLOCK_MIN) continue;
      }
      const blen = this.blockLength(this.carry, 0);
      this.block(this.carry, 0, blen);
      this.unitStart += blen;
      this.carryLen = 0;
      return pos;
    }
  }

  private fail(msg: string): never {
    throw new CaptureError(msg, this.name, this.unitStart, this.pendingRecord);
  }

  /** Validated total length of the block starting at `pos` (needs 12 bytes). */
  private blockLength(b: Buffer, pos: number): number {
    let le = this.le;
    if (b.readUInt32LE(pos) === BLOCK_SHB) {
      // The SHB announces its own byte order.
      const bom = b.readUInt32LE(pos + 8);
      if (bom === BYTE_ORDER_MAGIC) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else this.fail(`section header block has a bad byte-order magic 0x${b.toString('hex', pos + 8, pos + 12)}`);
    } else if (this.section < 0) {
      this.fail(`block type 0x${b.toString('hex', pos, pos + 4)} before any section header block`);
    }
    const blen = le ? b.readUInt32LE(pos + 4) : b.readUInt32BE(pos + 4);
    if (blen < BLOCK_MIN || blen % 4 !== 0) this.fail(`bad block length ${blen} (must be a multiple of 4 and at least 12)`);
    if (blen > this.blockLimit) this.fail(`block length ${blen} exceeds the limit of ${this.blockLimit} bytes (corrupt file)`);
    return blen;
  }

  private u32(b: Buffer, at: number): number {
    return this.le ? b.readUInt32LE(at) : b.readUInt32BE(at);
  }

  private u16(b: Buffer, at: number): number {
    return this.le ? b.readUInt16LE(at) : b.readUInt16BE(at);
  }

  private block(b: Buffer, pos: number, blen: number): void {
    this.blockBody(b, pos, blen);
    this.blocks++;
  }

  private blockBody(b: Buffer, pos: number, blen: number): void {
    if (b.readUInt32LE(pos) === BLOCK_SHB) {
      this.le = b.readUInt32LE(pos + 8) === BYTE_ORDER_MAGIC;
    }
    const type = this.u32(b, pos);
    const trailer = this.u32(b, pos + blen - 4);
    if (trailer !== blen) this.fail(`trailing block length ${trailer} does not match leading length ${blen}`);
    switch (type) {
      case BLOCK_SHB:
        this.sectionHeader(b, pos, blen);
        return;
      case BLOCK_IDB:
        this.interfaceDescription(b, pos, blen);
        return;
      case BLOCK_EPB:
        this.packetBlock(b, pos, blen, this.u32(b, pos + 8));
        return;
      case BLOCK_OPB:
        this.packetBlock(b, pos, blen, this.u16(b, pos + 8));
        return;
      case BLOCK_SPB:
        this.simplePacket(b, pos, blen);
        return;
      default:
        // NRB, ISB, DSB, custom blocks and unknown types carry nothing the analyser needs.
        this.skippedBlocks++;
    }
  }

  private sectionHeader(b: Buffer, pos: number, blen: number): void {
    if (blen < 28) this.fail(`section header block too short (${blen} bytes)`);
    const major = this.u16(b, pos + 12);
    if (major !== 1) this.fail(`unsupported pcapng version ${major}.${this.u16(b, pos + 14)}`);
    this.section++;
    this.interfaces = [];
  }

  private interfaceDescription(b: Buffer, pos: number, blen: number): void {
    if (blen < 20) this.fail(`interface description block too short (${blen} bytes)`);
    const linktype = this.u16(b, pos + 8);
    const snaplen = this.u32(b, pos + 12);
    let tsresol = 6;
    let offsetSec = 0;
    const end = pos + blen - 4;
    let o = pos + 16;
    while (end - o >= 4) {
      const code = this.u16(b, o);
      const olen = this.u16(b, o + 2);
      if (code === OPT_ENDOFOPT) break;
      if (o + 4 + olen > end) this.fail(`interface option ${code} (length ${olen}) overruns its block`);
      if (code === OPT_IF_TSRESOL && olen >= 1) tsresol = b[o + 4];
      else if (code === OPT_IF_TSOFFSET && olen >= 8) {
        offsetSec = Number(this.le ? b.readBigInt64LE(o + 4) : b.readBigInt64BE(o + 4));
      }
      o += 4 + ((olen + 3) & ~3);
    }
    const exp = tsresol & 0x7f;
    if (tsresol & 0x80 ? exp > 63 : exp > 18) this.fail(`unsupported if_tsresol 0x${tsresol.toString(16)}`);
    this.interfaces.push(makeInterface(linktype, snaplen, tsresol, offsetSec));
  }

  private iface(id: number): PcapngInterface {
    const ifc = this.interfaces[id];
    if (ifc === undefined) {
      this.fail(`packet references interface ${id}, but section ${this.section} defines ${this.interfaces.length} interface(s)`);
    }
    return ifc;
  }

  /** EPB and obsolete PB share the layout after their first word. */
  private packetBlock(b: Buffer, pos: number, blen: number, ifid: number): void {
    if (blen < 32) this.fail(`packet block too short (${blen} bytes)`);
    const ifc = this.iface(ifid);
    const caplen = this.u32(b, pos + 20);
    if (caplen > blen - 32) this.fail(`packet block claims ${caplen} captured bytes but holds at most ${blen - 32}`);
    if (caplen > this.maxPacketBytes) {
      this.fail(`packet block claims ${caplen} captured bytes, more than the maximum of ${this.maxPacketBytes} (corrupt file)`);
    }
    const p = this.pkt;
    unitsToTime(ifc, this.u32(b, pos + 12), this.u32(b, pos + 16), p);
    p.buf = b;
    p.offset = pos + 28;
    p.caplen = caplen;
    p.origlen = this.u32(b, pos + 24);
    this.deliver(ifc, ifid);
  }

  private simplePacket(b: Buffer, pos: number, blen: number): void {
    if (blen < 16) this.fail(`simple packet block too short (${blen} bytes)`);
    const ifc = this.iface(0);
    const origlen = this.u32(b, pos + 8);
    // No captured length field: the body is padded, so the original length and snaplen bound it.
    let caplen = Math.min(origlen, blen - 16);
    if (ifc.snaplen > 0 && ifc.snaplen < caplen) caplen = ifc.snaplen;
    if (caplen > this.maxPacketBytes) {
      this.fail(`simple packet block holds ${caplen} captured bytes, more than the maximum of ${this.maxPacketBytes} (corrupt file)`);
    }
    const p = this.pkt;
    p.tsSec = 0;
    p.tsNsec = 0;
    p.buf = b;
    p.offset = pos + 12;
    p.caplen = caplen;
    p.origlen = origlen;
    this.deliver(ifc, 0);
  }

  private deliver(ifc: PcapngInterface, ifid: number): void {
    const p = this.pkt;
    p.linktype = ifc.linktype;
    p.interfaceId = ifid;
    p.section = this.section;
    p.fileOffset = this.unitStart;
    p.index = ++this.packets;
    if (!this.linktypes.includes(ifc.linktype)) this.linktypes.push(ifc.linktype);
    this.onPacket(p);
  }

  private ensureCarry(size: number): void {
    if (this.carry.length >= size) return;
    const cap = Math.max(size, Math.min(this.carry.length * 2, this.blockLimit), 4096);
    const next = Buffer.allocUnsafe(cap);
    this.carry.copy(next, 0, 0, this.carryLen);
    this.carry = next;
  }
}
