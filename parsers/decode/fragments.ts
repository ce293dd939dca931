/**
 * IPv4/IPv6 fragment reassembly. The rare path: it may allocate (fragment copies, keys, the
 * reassembled buffer). Bounded by total bytes held, datagrams in progress and age, where age is
 * measured in packet timestamps (captures are replayed faster than real time).
 */
import type { FlowLayer } from './layers';
import { type FragInfo, ipv4HeaderSum } from './ipv4';

export interface FragmentLimits {
  maxBytesTotal: number;
  maxDatagrams: number;
  timeoutSec: number;
  maxDatagramBytes: number;
}

export interface FragmentStats {
  /** Fragments stored while waiting for the rest (FRAGMENT_HELD results). */
  fragmentsHeld: number;
  datagramsReassembled: number;
  /** Fragments discarded because their datagram timed out. */
  fragmentsExpired: number;
  datagramsExpired: number;
  /** Fragments discarded otherwise: datagram evicted by a limit, too large, or fragment cut by the snap length. */
  fragmentsDropped: number;
  datagramsEvicted: number;
  /** Datagrams whose fragments declared more than maxDatagramBytes. */
  datagramsTooLarge: number;
  /** Fragments whose data was cut by the snap length (cannot be reassembled). */
  fragmentsTruncated: number;
  /** Currently in progress. */
  pendingDatagrams: number;
  pendingBytes: number;
}

// biome-ignore lint/suspicious/noConstEnum: read per packet; tsc (our only compiler here) inlines the values, a plain enum is two property loads per use
export const enum FragResult {
  HELD = 0,
  COMPLETE = 1,
  /** Not stored (snap length cut it, or limits); nothing to decode. */
  DROPPED = 2,
  /** Fragment reaches beyond maxDatagramBytes (ping-of-death style); datagram discarded. */
  TOO_LARGE = 3,
}

class Datagram {
  firstSeen: number;
  frags = 0;
  bytes = 0;
  /** Fragmentable-part length, known once the last fragment (MF=0) arrived. */
  total = -1;
  /** IP header (IPv6: fixed header + unfragmentable extension headers) of the offset-0 fragment. */
  hdr: Buffer | null = null;
  /** IPv6: offset within hdr of the Next Header byte that named the Fragment header, and the value to put there. */
  patchRel = -1;
  fragNext = 0;
  /** Stored pieces: sorted by start, never overlapping (first arrival wins). */
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  readonly data: Buffer[] = [];

  constructor(
    readonly key: string,
    now: number,
  ) {
    this.firstSeen = now;
  }
}

export class FragmentReassembler {
  private readonly map = new Map<string, Datagram>();
  /** After COMPLETE: the reassembled buffer and the IP header offset in it. */
  result: Buffer | null = null;
  resultIpOff = 0;

  constructor(
    private readonly limits: FragmentLimits,
    private readonly stats: FragmentStats,
  ) {}

  get pending(): number {
    return this.map.size;
  }

  /** Drops datagrams older than the timeout. Map order is creation order, so the oldest come first. */
  expire(now: number): void {
    const limit = now - this.limits.timeoutSec;
    for (const d of this.map.values()) {
      if (d.firstSeen >= limit) break;
      this.remove(d);
      this.stats.fragmentsExpired += d.frags;
      this.stats.datagramsExpired++;
    }
  }

  private remove(d: Datagram): void {
    this.map.delete(d.key);
    this.stats.pendingBytes -= d.bytes;
    this.stats.pendingDatagrams = this.map.size;
  }

  private evict(d: Datagram): void {
    this.remove(d);
    this.stats.fragmentsDropped += d.frags;
    this.stats.datagramsEvicted++;
  }

  /**
   * Adds the fragment described by `layer` (its IP fields) and `fi`. `base` is where the packet
   * starts in `buf`: bytes [base, layer.ipOff) (link and outer headers) are copied in front of the
   * reassembled IP packet so offsets keep their meaning. `capEnd` is the end of captured bytes.
   */
  add(buf: Buffer, base: number, capEnd: number, layer: FlowLayer, fi: FragInfo, now: number): FragResult {
    this.result = null;
    const v6 = layer.ipVersion === 6;
    const key = `${(v6 ? '6|' : `4|${layer.proto}|`) + fi.id}|${buf.toString('latin1', layer.srcOff, layer.srcOff + 2 * layer.addrLen)}`;
    let d = this.map.get(key);
    const hdrLen = v6 ? fi.dataOff - 8 - layer.ipOff : layer.ipHdrLen;
    const fEnd = fi.offset + fi.dataLen;
    if (hdrLen + fEnd > this.limits.maxDatagramBytes) {
      if (d) this.evict(d);
      this.stats.fragmentsDropped++;
      this.stats.datagramsTooLarge++;
      return FragResult.TOO_LARGE;
    }
    if (fi.dataOff + fi.dataLen > capEnd) {
      this.stats.fragmentsDropped++;
      this.stats.fragmentsTruncated++;
      return FragResult.DROPPED;
    }
    if (!d) {
      if (this.map.size >= this.limits.maxDatagrams) {
        const oldest = this.map.values().next().value;
        if (oldest) this.evict(oldest);
      }
      d = new Datagram(key, now);
      this.map.set(key, d);
      this.stats.pendingDatagrams = this.map.size;
    }
    let added = 0;
    if (fi.offset === 0 && d.hdr === null) {
      d.hdr = Buffer.from(buf.subarray(layer.ipOff, layer.ipOff + hdrLen));
      added += hdrLen;
      if (v6) {
        d.patchRel = fi.patchOff - layer.ipOff;
        d.fragNext = fi.fragNext;
      }
    }
    if (!fi.more && d.total < 0) d.total = fEnd;
    // Data past a known end is inconsistent; only [0, total) can ever be used.
    const limitEnd = d.total >= 0 && fEnd > d.total ? d.total : fEnd;
    added += this.insert(d, buf, fi.dataOff, fi.offset, limitEnd);
    d.frags++;
    d.bytes += added;
    this.stats.pendingBytes += added;
    if (this.stats.pendingBytes > this.limits.maxBytesTotal) {
      for (const o of this.map.values()) {
        if (this.stats.pendingBytes <= this.limits.maxBytesTotal) break;
        if (o !== d) this.evict(o);
      }
      if (this.stats.pendingBytes > this.limits.maxBytesTotal) {
        this.evict(d);
        return FragResult.DROPPED;
      }
    }
    if (d.hdr !== null && d.total >= 0 && covered(d)) {
      this.remove(d);
      this.result = build(d, buf, base, layer.ipOff, v6);
      this.resultIpOff = layer.ipOff - base;
      this.stats.datagramsReassembled++;
      return FragResult.COMPLETE;
    }
    this.stats.fragmentsHeld++;
    return FragResult.HELD;
  }

  /** Stores the parts of [s, e) (datagram offsets; data at buf[dataOff..]) not already held. Returns bytes stored. */
  private insert(d: Datagram, buf: Buffer, dataOff: number, s: number, e: number): number {
    let stored = 0;
    let cur = s;
    let i = 0;
    while (cur < e) {
      while (i < d.starts.length && d.ends[i] <= cur) i++;
      const nextStart = i < d.starts.length ? d.starts[i] : Infinity;
      if (nextStart > cur) {
        const pe = Math.min(nextStart, e);
        const piece = Buffer.from(buf.subarray(dataOff + (cur - s), dataOff + (pe - s)));
        d.starts.splice(i, 0, cur);
        d.ends.splice(i, 0, pe);
        d.data.splice(i, 0, piece);
        stored += pe - cur;
        i++;
        cur = pe;
      } else {
        cur = d.ends[i];
        i++;
      }
    }
    return stored;
  }
}

function covered(d: Datagram): boolean {
  let cur = 0;
  for (let i = 0; i < d.starts.length && cur < d.total; i++) {
    if (d.starts[i] > cur) return false;
    if (d.ends[i] > cur) cur = d.ends[i];
  }
  return cur >= d.total;
}

/** [base, ipOff) of the completing packet + first fragment's header (lengths patched) + data. */
function build(d: Datagram, buf: Buffer, base: number, ipOff: number, v6: boolean): Buffer {
  const hdr = d.hdr as Buffer;
  const pre = ipOff - base;
  const out = Buffer.allocUnsafe(pre + hdr.length + d.total);
  buf.copy(out, 0, base, ipOff);
  hdr.copy(out, pre);
  const dataStart = pre + hdr.length;
  for (let i = 0; i < d.starts.length; i++) {
    const s = d.starts[i];
    if (s >= d.total) break;
    const e = Math.min(d.ends[i], d.total);
    d.data[i].copy(out, dataStart + s, 0, e - s);
  }
  if (v6) {
    out.writeUInt16BE(hdr.length - 40 + d.total, pre + 4);
    out[pre + d.patchRel] = d.fragNext;
  } else {
    out.writeUInt16BE(hdr.length + d.total, pre + 2);
    out.writeUInt16BE(out.readUInt16BE(pre + 6) & 0x4000, pre + 6); // keep DF, clear MF and offset
    // The header changed, so its checksum is recomputed: each fragment's own was checked already.
    out.writeUInt16BE(0, pre + 10);
    out.writeUInt16BE(~ipv4HeaderSum(out, pre, hdr.length) & 0xffff, pre + 10);
  }
  return out;
}
