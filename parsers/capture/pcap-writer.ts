/**
 * Writing classic pcap (nanosecond variant, so no timestamp precision is lost): the file header
 * once, then each packet as it was captured. Used to cut the packets of chosen connections out of
 * an uploaded capture.
 */
import type { CapturedPacket } from './types';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;

export interface PcapHeaderOptions {
  /** Nanosecond timestamps (magic a1b23c4d); default microseconds. */
  nanosecond?: boolean;
  /** LINKTYPE of every record (default 1, Ethernet). */
  linktype?: number;
  /** Snap length in the file header (default 262144). */
  snaplen?: number;
}

/** The 24-byte little-endian file header (https://www.tcpdump.org/manpages/pcap-savefile.5.html). */
export function pcapFileHeader(opts: PcapHeaderOptions = {}): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(opts.nanosecond ? PCAP_MAGIC_NS : PCAP_MAGIC_US, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeInt32LE(0, 8); // thiszone
  h.writeUInt32LE(0, 12); // sigfigs
  h.writeUInt32LE(opts.snaplen ?? 262144, 16);
  h.writeUInt32LE((opts.linktype ?? 1) >>> 0, 20);
  return h;
}

/** Header of a nanosecond pcap with this link type. */
export function pcapHeader(linktype: number): Buffer {
  return pcapFileHeader({ nanosecond: true, linktype });
}

/** The packet's record: header and a copy of its bytes (the reader's buffer is reused after the callback). */
export function pcapRecord(p: CapturedPacket): Buffer {
  const r = Buffer.allocUnsafe(16 + p.caplen);
  r.writeUInt32LE(p.tsSec >>> 0, 0);
  r.writeUInt32LE(p.tsNsec >>> 0, 4);
  r.writeUInt32LE(p.caplen >>> 0, 8);
  r.writeUInt32LE(p.origlen >>> 0, 12);
  p.buf.copy(r, 16, p.offset, p.offset + p.caplen);
  return r;
}
