/**
 * Test-only: reads a capture with our reader + decoder and regroups transport payloads into
 * connections, in packet order. TCP payloads are put in sequence order per direction with
 * retransmitted bytes dropped (the corpus captures used here are clean), which stands in for the
 * tracker's reassembler until it exists.
 */
import { readCapture } from '../../parsers/capture/open';
import { PacketDecoder } from '../../parsers/decode/decoder';
import { DecodeStatus, type FlowLayer } from '../../parsers/decode/layers';
import { formatIPv6 } from '../../parsers/record/address';

export interface Chunk {
  isOrig: boolean;
  data: Buffer;
  ts: number;
}

export interface Flow {
  proto: 'tcp' | 'udp';
  orig_h: string;
  orig_p: number;
  resp_h: string;
  resp_p: number;
  chunks: Chunk[];
}

function addr(l: FlowLayer, off: number): string {
  const b = l.buf;
  if (l.addrLen === 4) return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
  return formatIPv6(b, off);
}

interface Dir {
  next: number; // -1 until known
  held: Map<number, Buffer>;
}

export async function readFlows(path: string): Promise<Flow[]> {
  const dec = new PacketDecoder();
  const pkt = dec.newPacket();
  const flows = new Map<string, Flow & { dirs: [Dir, Dir] }>();
  const order: (Flow & { dirs: [Dir, Dir] })[] = [];
  await readCapture(path, (p) => {
    if (dec.decode(p, pkt) !== DecodeStatus.OK || pkt.count === 0) return;
    const l = pkt.layers[pkt.count - 1];
    if (l.proto !== 6 && l.proto !== 17) return;
    const ts = p.tsSec + p.tsNsec * 1e-9;
    const src = addr(l, l.srcOff);
    const dst = addr(l, l.dstOff);
    const a = `${src}|${l.sport}`;
    const b = `${dst}|${l.dport}`;
    const key = `${l.proto}|${a < b ? `${a}|${b}` : `${b}|${a}`}`;
    let f = flows.get(key);
    if (f === undefined) {
      f = {
        proto: l.proto === 6 ? 'tcp' : 'udp',
        orig_h: src,
        orig_p: l.sport,
        resp_h: dst,
        resp_p: l.dport,
        chunks: [],
        dirs: [
          { next: -1, held: new Map() },
          { next: -1, held: new Map() },
        ],
      };
      // A SYN-ACK seen first means the responder spoke first.
      if (l.proto === 6 && (l.tcpFlags & 0x12) === 0x12) {
        f.orig_h = dst;
        f.orig_p = l.dport;
        f.resp_h = src;
        f.resp_p = l.sport;
      }
      flows.set(key, f);
      order.push(f);
    }
    const isOrig = src === f.orig_h && l.sport === f.orig_p;
    const n = Math.min(l.capturedPayloadLen, l.payloadLen);
    const data = Buffer.from(l.buf.subarray(l.payloadOff, l.payloadOff + n));
    if (f.proto === 'udp') {
      f.chunks.push({ isOrig, data, ts });
      return;
    }
    const d = f.dirs[isOrig ? 1 : 0];
    if (l.tcpFlags & 0x02) {
      d.next = (l.seq + 1) >>> 0;
      if (n === 0) return;
    }
    if (n === 0) return;
    if (d.next < 0) d.next = l.seq;
    d.held.set(l.seq, data);
    // Deliver whatever is now contiguous.
    for (;;) {
      let progressed = false;
      for (const [seq, buf] of d.held) {
        const rel = (seq - d.next) | 0;
        if (rel > 0) continue;
        d.held.delete(seq);
        const skip = -rel;
        if (skip < buf.length) {
          f.chunks.push({ isOrig, data: buf.subarray(skip), ts });
          d.next = (d.next + buf.length - skip) >>> 0;
        }
        progressed = true;
      }
      if (!progressed) break;
    }
  });
  return order.map(({ dirs: _dirs, ...f }) => f);
}
