/**
 * Compares PacketDecoder output with the corpus' tshark TSV oracle (F.tshark.tsv), layer by layer.
 * tshark lists repeated fields outer-first; frame.protocols tells which IP header each belongs to.
 * IP headers quoted inside ICMP errors are not tunnels for us, so they are cut off.
 */
import * as assert from 'node:assert/strict';
import type { CapturedPacket } from '../../parsers/capture/types';
import { type DecodedPacket, DecodeStatus, type FlowLayer } from '../../parsers/decode/layers';
import { PacketDecoder } from '../../parsers/decode/decoder';
import { corpusPath } from '../util/corpus';
import { loadCapture, loadTsv } from './load-pcap';

export function fmtAddr(buf: Buffer, off: number, len: number): string {
  if (len === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(buf.readUInt16BE(off + 2 * i));
  let bestS = -1;
  let bestL = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestL && j - i >= 2) {
      bestS = i;
      bestL = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestS < 0) return hex(g);
  return `${hex(g.slice(0, bestS))}::${hex(g.slice(bestS + bestL))}`;
}

export const src = (l: FlowLayer): string => fmtAddr(l.buf, l.srcOff, l.addrLen);
export const dst = (l: FlowLayer): string => fmtAddr(l.buf, l.dstOff, l.addrLen);

const list = (s: string | undefined): string[] => (s ? s.split(',') : []);

export interface OracleRun {
  packets: CapturedPacket[];
  rows: Record<string, string>[];
  decoded: DecodedPacket[]; // a snapshot per packet is not kept; these are fresh objects per packet (tests only)
  statuses: DecodeStatus[];
  layersCompared: number;
}

export interface OracleOptions {
  /**
   * Do not compare TCP payload lengths: tshark bounds them by a PPPoE session's length field,
   * Zeek (and we) by the IP total length alone.
   */
  ignoreTcpLen?: boolean;
  /**
   * The outer layer sits in a PPPoE session: its captured bytes end where the PPPoE length field
   * says (Zeek's PPPoE analyzer passes no more on), even when the frame and the IP total length run on.
   */
  pppoe?: boolean;
}

/** Decodes the capture (one fresh DecodedPacket per packet, tests only) and checks it against the oracle. */
export function checkAgainstOracle(rel: string, dec = new PacketDecoder(), opts: OracleOptions = {}): OracleRun {
  const packets = loadCapture(corpusPath(rel));
  const rows = loadTsv(corpusPath(`${rel}.tshark.tsv`));
  assert.equal(packets.length, rows.length, `${rel}: packet count vs oracle`);
  const run: OracleRun = { packets, rows, decoded: [], statuses: [], layersCompared: 0 };
  packets.forEach((p, i) => {
    const out = dec.newPacket();
    const st = dec.decode(p, out);
    run.decoded.push(out);
    run.statuses.push(st);
    run.layersCompared += compareRow(rel, p, out, rows[i], opts);
  });
  return run;
}

interface Expect {
  ver: 4 | 6;
  src: string;
  dst: string;
  proto?: number;
  sport?: number;
  dport?: number;
  tcpFlags?: number;
  tcpLen?: number;
  icmpType?: number;
  icmpCode?: number;
  fragment: boolean;
}

function compareRow(rel: string, p: CapturedPacket, out: DecodedPacket, r: Record<string, string>, opts: OracleOptions): number {
  const where = `${rel} frame ${r['frame.number']}`;
  const toks = r['frame.protocols'].split(':');
  const ip4s = list(r['ip.src']),
    ip4d = list(r['ip.dst']),
    ip6s = list(r['ipv6.src']),
    ip6d = list(r['ipv6.dst']);
  const protos = list(r['ip.proto']);
  const mf = list(r['ip.flags.mf']),
    fo = list(r['ip.frag_offset']);
  const tsp = list(r['tcp.srcport']),
    tdp = list(r['tcp.dstport']),
    usp = list(r['udp.srcport']),
    udp = list(r['udp.dstport']);
  const tfl = list(r['tcp.flags']),
    tln = list(r['tcp.len']);
  const ict = list(r['icmp.type']),
    icc = list(r['icmp.code']),
    i6t = list(r['icmpv6.type']),
    i6c = list(r['icmpv6.code']);
  const exp: Expect[] = [];
  let n4 = 0,
    n6 = 0,
    nt = 0,
    nu = 0,
    ni = 0,
    ni6 = 0;
  let quoted = false;
  for (let k = 0; k < toks.length; k++) {
    const t = toks[k];
    const cur = exp[exp.length - 1];
    if (t === 'ip' || t === 'ipv6') {
      if (k > 0 && (toks[k - 1] === 'icmp' || toks[k - 1] === 'icmpv6')) quoted = true;
      if (quoted) break;
      if (t === 'ip') {
        const e: Expect = {
          ver: 4,
          src: ip4s[n4],
          dst: ip4d[n4],
          proto: Number(protos[n4]),
          fragment: mf[n4] === '1' || (fo[n4] !== undefined && fo[n4] !== '0'),
        };
        exp.push(e);
        n4++;
      } else {
        exp.push({ ver: 6, src: ip6s[n6], dst: ip6d[n6], fragment: false });
        n6++;
      }
    } else if (t === 'ipv6.fraghdr' && cur) {
      cur.fragment = toks[k + 1] === 'data';
    } else if (t === 'tcp' && cur) {
      cur.sport = Number(tsp[nt]);
      cur.dport = Number(tdp[nt]);
      cur.tcpFlags = parseInt(tfl[nt], 16) & 0xff;
      // tshark leaves tcp.len empty in frames it decodes through Cisco FabricPath.
      cur.tcpLen = tln[nt] === undefined || tln[nt] === '' || opts.ignoreTcpLen ? undefined : Number(tln[nt]);
      nt++;
    } else if (t === 'udp' && cur) {
      cur.sport = Number(usp[nu]);
      cur.dport = Number(udp[nu]);
      nu++;
    } else if (t === 'icmp' && cur) {
      cur.icmpType = Number(ict[ni]);
      cur.icmpCode = Number(icc[ni]);
      ni++;
    } else if (t === 'icmpv6' && cur) {
      cur.icmpType = Number(i6t[ni6]);
      cur.icmpCode = Number(i6c[ni6]);
      ni6++;
    }
  }
  if (exp.length === 0) {
    assert.equal(out.status, DecodeStatus.NOT_IP, `${where}: non-IP frame status (${out.errorMessage})`);
    assert.equal(out.count, 0, where);
    return 0;
  }
  // tshark reassembles in the frame that completes the datagram; it shows 'data' on the others.
  const last = exp[exp.length - 1];
  if (last.fragment && last.sport === undefined && last.icmpType === undefined) {
    assert.equal(out.status, DecodeStatus.FRAGMENT_HELD, `${where}: fragment status`);
    assert.equal(out.count, exp.length - 1, `${where}: layers before the fragment`);
    exp.pop();
  } else {
    assert.equal(out.status, DecodeStatus.OK, `${where}: status (${out.errorCode} ${out.errorMessage})`);
    assert.equal(out.count, exp.length, `${where}: layer count`);
  }
  const vlans = list(r['vlan.id']).map(Number);
  exp.forEach((e, i) => {
    const l = out.layers[i];
    const w = `${where} layer ${i}`;
    assert.equal(l.ipVersion, e.ver, `${w}: IP version`);
    assert.equal(src(l), e.src, `${w}: src`);
    assert.equal(dst(l), e.dst, `${w}: dst`);
    if (e.proto !== undefined && !e.fragment) assert.equal(l.proto, e.proto, `${w}: proto`);
    if (e.sport !== undefined) {
      assert.equal(l.sport, e.sport, `${w}: sport`);
      assert.equal(l.dport, e.dport, `${w}: dport`);
    }
    if (e.tcpFlags !== undefined) {
      assert.equal(l.proto, 6, w);
      assert.equal(l.tcpFlags, e.tcpFlags, `${w}: tcp flags`);
      if (e.tcpLen !== undefined) assert.equal(l.payloadLen, e.tcpLen, `${w}: tcp.len`);
      let capEnd = p.offset + p.caplen;
      // PPPoE header (6 bytes) and PPP protocol (2) right before the IP header; its length counts from the protocol on.
      if (opts.pppoe === true && i === 0) capEnd = Math.min(capEnd, l.ipOff - 2 + p.buf.readUInt16BE(l.ipOff - 4));
      const expCap = l.reassembled ? l.payloadLen : Math.max(0, Math.min(l.payloadLen, capEnd - l.payloadOff));
      assert.equal(l.capturedPayloadLen, expCap, `${w}: captured payload`);
    }
    if (e.icmpType !== undefined) {
      assert.equal(l.icmpType, e.icmpType, `${w}: icmp type`);
      assert.equal(l.icmpCode, e.icmpCode, `${w}: icmp code`);
      assert.equal(l.sport, e.icmpType, `${w}: icmp sport=type`);
      assert.equal(l.dport, e.icmpCode, `${w}: icmp dport=code`);
    }
    if (i === 0) {
      assert.equal(l.tunnel, 0, `${w}: layer 0 tunnel`);
      assert.equal(l.vlan, vlans.length > 0 ? vlans[0] : -1, `${w}: vlan`);
      assert.equal(l.innerVlan, vlans.length > 1 ? vlans[1] : -1, `${w}: inner vlan`);
    }
  });
  const vx = r['vxlan.vni'];
  if (vx && out.count > 1) assert.equal(out.layers[1].tunnelId, Number(vx), `${where}: VXLAN VNI`);
  const gv = r['geneve.vni'];
  if (gv && out.count > 1) assert.equal(out.layers[1].tunnelId, parseInt(gv, 16), `${where}: Geneve VNI`);
  return exp.length;
}
