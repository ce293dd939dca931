/**
 * Test-only loader: reads a whole small classic pcap or pcapng file into CapturedPacket objects.
 * Not for production use (reads everything into memory, one object per packet).
 */
import * as fs from 'node:fs';
import type { CapturedPacket } from '../../parsers/capture/types';

function pkt(
  buf: Buffer,
  offset: number,
  caplen: number,
  origlen: number,
  tsSec: number,
  tsNsec: number,
  linktype: number,
  interfaceId: number,
  section: number,
  fileOffset: number,
  index: number,
): CapturedPacket {
  return { buf, offset, caplen, origlen, tsSec, tsNsec, linktype, interfaceId, section, fileOffset, index };
}

export function loadCapture(file: string): CapturedPacket[] {
  const buf = fs.readFileSync(file);
  const m = buf.readUInt32LE(0);
  if (m === 0x0a0d0d0a) return loadPcapng(buf);
  return loadPcap(buf);
}

function loadPcap(buf: Buffer): CapturedPacket[] {
  const mle = buf.readUInt32LE(0);
  let le: boolean;
  let nano: boolean;
  if (mle === 0xa1b2c3d4 || mle === 0xa1b23c4d) {
    le = true;
    nano = mle === 0xa1b23c4d;
  } else {
    const mbe = buf.readUInt32BE(0);
    if (mbe !== 0xa1b2c3d4 && mbe !== 0xa1b23c4d) throw new Error('not a pcap file');
    le = false;
    nano = mbe === 0xa1b23c4d;
  }
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linktype = u32(20) & 0x0fffffff;
  const res: CapturedPacket[] = [];
  let o = 24;
  while (o + 16 <= buf.length) {
    const caplen = u32(o + 8);
    if (o + 16 + caplen > buf.length) break;
    const frac = u32(o + 4);
    res.push(pkt(buf, o + 16, caplen, u32(o + 12), u32(o), nano ? frac : frac * 1000, linktype, 0, 0, o, res.length + 1));
    o += 16 + caplen;
  }
  return res;
}

function loadPcapng(buf: Buffer): CapturedPacket[] {
  const res: CapturedPacket[] = [];
  let le = true;
  let section = -1;
  let ifaces: { linktype: number; snaplen: number; tsUnitsPerSec: bigint }[] = [];
  let o = 0;
  while (o + 12 <= buf.length) {
    let type = buf.readUInt32LE(o);
    if (type === 0x0a0d0d0a) {
      const bom = buf.readUInt32LE(o + 8);
      le = bom === 0x1a2b3c4d;
      section++;
      ifaces = [];
    }
    const u32 = (p: number): number => (le ? buf.readUInt32LE(p) : buf.readUInt32BE(p));
    const u16 = (p: number): number => (le ? buf.readUInt16LE(p) : buf.readUInt16BE(p));
    type = u32(o);
    const len = u32(o + 4);
    if (len < 12 || o + len > buf.length) break;
    if (type === 1) {
      let units = 1000000n;
      // options after linktype(2) reserved(2) snaplen(4)
      let p = o + 16;
      while (p + 4 <= o + len - 4) {
        const code = u16(p);
        const olen = u16(p + 2);
        if (code === 0) break;
        if (code === 9 && olen >= 1) {
          const v = buf[p + 4];
          units = v & 0x80 ? 2n ** BigInt(v & 0x7f) : 10n ** BigInt(v);
        }
        p += 4 + ((olen + 3) & ~3);
      }
      ifaces.push({ linktype: u16(o + 8), snaplen: u32(o + 12), tsUnitsPerSec: units });
    } else if (type === 6 || type === 2) {
      const ifId = type === 6 ? u32(o + 8) : u16(o + 8);
      const ts = (BigInt(u32(o + 12)) << 32n) | BigInt(u32(o + 16));
      const caplen = u32(o + 20);
      const origlen = u32(o + 24);
      const ifc = ifaces[ifId];
      const sec = ts / ifc.tsUnitsPerSec;
      const nsec = ((ts % ifc.tsUnitsPerSec) * 1000000000n) / ifc.tsUnitsPerSec;
      res.push(pkt(buf, o + 28, caplen, origlen, Number(sec), Number(nsec), ifc.linktype, ifId, section, o, res.length + 1));
    } else if (type === 3) {
      const origlen = u32(o + 8);
      const ifc = ifaces[0];
      let caplen = Math.min(origlen, len - 16);
      if (ifc.snaplen > 0) caplen = Math.min(caplen, ifc.snaplen);
      res.push(pkt(buf, o + 12, caplen, origlen, 0, 0, ifc.linktype, 0, section, o, res.length + 1));
    }
    o += len;
  }
  return res;
}

/** Reads a tshark -T fields TSV (header line) into one record per row. */
export function loadTsv(file: string): Record<string, string>[] {
  const lines = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
  const head = lines[0].split('\t');
  return lines.slice(1).map((l) => {
    const cols = l.split('\t');
    const r: Record<string, string> = {};
    for (const [i, h] of head.entries()) r[h] = cols[i] ?? '';
    return r;
  });
}
