/**
 * The committed sample captures are reproducible and well-formed, and the builders produce
 * correct checksums (verified by an independent walk over every packet).
 */
import * as assert from 'node:assert/strict';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { SAMPLES, generateSamples, type SampleResult } from '../../samples/generate';
import { DnsType, Flags, Proto, dnsMessage, ethernet, icmpEcho, ip, ipv4, tcp, tcpOptions, udp, vxlan } from '../../samples/lib/packet-builder';
import { PcapWriter, encodePcap } from '../../samples/lib/pcap-writer';
import { Rng, ethernetFramer, mergeByTime, tcpSession } from '../../samples/lib/session';

function repoRoot(): string {
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'package.json')) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}
const SAMPLES_DIR = path.join(repoRoot(), 'samples');

// ---------------------------------------------------------------- independent verification

/** RFC 1071 checksum written differently from the builder's: 16-bit reads, fold at the end. */
function inetChecksum(chunks: Buffer[]): number {
  const all = Buffer.concat(chunks);
  const b = all.length % 2 ? Buffer.concat([all, Buffer.alloc(1)]) : all;
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += b.readUInt16BE(i);
  while (s >>> 16) s = (s & 0xffff) + (s >>> 16);
  return s; // 0xffff when the data (checksum field included) is correct
}

function pseudo(src: Buffer, dst: Buffer, proto: number, len: number): Buffer {
  if (src.length === 4) {
    const p = Buffer.alloc(12);
    src.copy(p, 0);
    dst.copy(p, 4);
    p[9] = proto;
    p.writeUInt16BE(len, 10);
    return p;
  }
  const p = Buffer.alloc(40);
  src.copy(p, 0);
  dst.copy(p, 16);
  p.writeUInt32BE(len, 32);
  p[39] = proto;
  return p;
}

interface WalkStats {
  frames: number;
  ipv4: number;
  ipv6: number;
  tcp: number;
  udp: number;
  udpNoChecksum: number;
  icmp: number;
  vxlan: number;
}

/** Walks Ethernet(/802.1Q)/IP/TCP|UDP|ICMP, descending into VXLAN (4789/8472); asserts every checksum and length. */
function verifyFrame(f: Buffer, st: WalkStats, where: string): void {
  st.frames++;
  assert.ok(f.length >= 14, `${where}: short frame`);
  let off = 12;
  let et = f.readUInt16BE(off);
  while (et === 0x8100 || et === 0x88a8) {
    off += 4;
    et = f.readUInt16BE(off);
  }
  off += 2;
  let src: Buffer, dst: Buffer, proto: number, l4: number, l4len: number;
  if (et === 0x0800) {
    st.ipv4++;
    const ihl = (f[off] & 0x0f) * 4;
    assert.equal(f[off] >> 4, 4, `${where}: IP version`);
    const total = f.readUInt16BE(off + 2);
    assert.equal(off + total, f.length, `${where}: IPv4 total length`);
    assert.equal(inetChecksum([f.subarray(off, off + ihl)]), 0xffff, `${where}: IPv4 header checksum`);
    src = f.subarray(off + 12, off + 16);
    dst = f.subarray(off + 16, off + 20);
    proto = f[off + 9];
    l4 = off + ihl;
    l4len = total - ihl;
  } else if (et === 0x86dd) {
    st.ipv6++;
    const plen = f.readUInt16BE(off + 4);
    assert.equal(off + 40 + plen, f.length, `${where}: IPv6 payload length`);
    src = f.subarray(off + 8, off + 24);
    dst = f.subarray(off + 24, off + 40);
    proto = f[off + 6];
    l4 = off + 40;
    l4len = plen;
  } else {
    assert.fail(`${where}: unexpected ethertype ${et.toString(16)}`);
  }
  const seg = f.subarray(l4, l4 + l4len);
  if (proto === 6) {
    st.tcp++;
    assert.ok((seg[12] >> 4) * 4 >= 20 && (seg[12] >> 4) * 4 <= seg.length, `${where}: TCP data offset`);
    assert.equal(inetChecksum([pseudo(src, dst, 6, seg.length), seg]), 0xffff, `${where}: TCP checksum`);
  } else if (proto === 17) {
    st.udp++;
    assert.equal(seg.readUInt16BE(4), seg.length, `${where}: UDP length`);
    if (seg.readUInt16BE(6) === 0) {
      assert.equal(src.length, 4, `${where}: IPv6 UDP without checksum`);
      st.udpNoChecksum++;
    } else {
      assert.equal(inetChecksum([pseudo(src, dst, 17, seg.length), seg]), 0xffff, `${where}: UDP checksum`);
    }
    const dport = seg.readUInt16BE(2);
    if (dport === 8472 || dport === 4789) {
      st.vxlan++;
      assert.equal(seg[8], 0x08, `${where}: VXLAN I flag`);
      verifyFrame(seg.subarray(16), st, `${where} (inner)`);
    }
  } else if (proto === 1) {
    st.icmp++;
    assert.equal(inetChecksum([seg]), 0xffff, `${where}: ICMP checksum`);
  } else {
    assert.fail(`${where}: unexpected IP protocol ${proto}`);
  }
}

/** Minimal classic-pcap reader (little-endian, µs): the records' frames. */
function readPcap(buf: Buffer): { frames: Buffer[]; ts: number[] } {
  assert.equal(buf.readUInt32LE(0), 0xa1b2c3d4, 'little-endian microsecond pcap');
  assert.equal(buf.readUInt32LE(20), 1, 'LINKTYPE_ETHERNET');
  const frames: Buffer[] = [],
    ts: number[] = [];
  let off = 24;
  while (off < buf.length) {
    assert.ok(off + 16 <= buf.length, 'truncated record header');
    const caplen = buf.readUInt32LE(off + 8);
    assert.equal(buf.readUInt32LE(off + 12), caplen, 'origlen equals caplen');
    assert.ok(buf.readUInt32LE(off + 4) < 1_000_000, 'microseconds < 1e6');
    ts.push(buf.readUInt32LE(off) * 1e6 + buf.readUInt32LE(off + 4));
    frames.push(buf.subarray(off + 16, off + 16 + caplen));
    off += 16 + caplen;
  }
  assert.equal(off, buf.length, 'no trailing bytes');
  return { frames, ts };
}

const emptyStats = (): WalkStats => ({ frames: 0, ipv4: 0, ipv6: 0, tcp: 0, udp: 0, udpNoChecksum: 0, icmp: 0, vxlan: 0 });

// ---------------------------------------------------------------- tests

describe('samples', () => {
  let tmp: string;
  let results: SampleResult[];

  before(async function () {
    this.timeout(60_000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-samples-'));
    results = await generateSamples(tmp);
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('regenerates byte-identical captures and expectation files', () => {
    assert.deepEqual(
      results.map((r) => r.name),
      [...SAMPLES],
    );
    for (const n of SAMPLES) {
      for (const ext of ['.pcap', '.conn.json']) {
        const committed = path.join(SAMPLES_DIR, n + ext);
        assert.ok(fs.existsSync(committed), `${committed} is committed (run: node dist/samples/generate.js)`);
        assert.ok(fs.readFileSync(path.join(tmp, n + ext)).equals(fs.readFileSync(committed)), `${n}${ext} differs from the committed file`);
      }
    }
  });

  it('committed captures hold the packet counts the generator reports, in time order', () => {
    const expected: Record<string, number> = { 'pod-traffic': 1027, 'vxlan-overlay': 174, scan: 502, 'failed-connections': 41 };
    for (const r of results) {
      const { frames, ts } = readPcap(fs.readFileSync(path.join(SAMPLES_DIR, `${r.name}.pcap`)));
      assert.equal(frames.length, r.packets, r.name);
      assert.equal(r.packets, expected[r.name], r.name);
      for (let i = 1; i < ts.length; i++) assert.ok(ts[i] >= ts[i - 1], `${r.name}: packet ${i + 1} goes back in time`);
      const base = Date.UTC(2026, 0, 15, 10, 0, 0) * 1000;
      assert.ok(ts[0] >= base && ts[0] < base + 1_000_000, `${r.name}: starts at 2026-01-15T10:00:00Z`);
    }
  });

  it('every packet of every sample has correct lengths and IPv4/TCP/UDP checksums', () => {
    for (const r of results) {
      const st = emptyStats();
      const { frames } = readPcap(fs.readFileSync(path.join(SAMPLES_DIR, `${r.name}.pcap`)));
      for (const [i, f] of frames.entries()) verifyFrame(f, st, `${r.name} #${i + 1}`);
      assert.equal(st.frames, r.packets + st.vxlan);
      if (r.name === 'vxlan-overlay') {
        assert.equal(st.vxlan, r.packets, 'every underlay packet is VXLAN');
        assert.equal(st.udpNoChecksum, r.packets, 'outer UDP checksum 0, as Linux VXLAN sends it');
      } else {
        assert.equal(st.vxlan, 0);
      }
    }
  });

  it('expected connection records add up to the packets in each capture', () => {
    for (const r of results) {
      const inner = r.connections.filter((c) => !c.label.startsWith('vxlan underlay'));
      const outer = r.connections.filter((c) => c.label.startsWith('vxlan underlay'));
      const sum = (cs: typeof inner) => cs.reduce((a, c) => a + c.orig_pkts + c.resp_pkts, 0);
      assert.equal(sum(inner), r.packets, `${r.name}: inner packets`);
      if (r.name === 'vxlan-overlay') assert.equal(sum(outer), r.packets, 'outer packets');
      const keys = new Set(r.connections.map((c) => `${c.proto} ${c.orig_h}:${c.orig_p} ${c.resp_h}:${c.resp_p}`));
      assert.equal(keys.size, r.connections.length, `${r.name}: 5-tuples are unique`);
    }
    const states = (name: string) => {
      const m: Record<string, number> = {};
      for (const c of results.find((r) => r.name === name)!.connections) m[c.conn_state] = (m[c.conn_state] ?? 0) + 1;
      return m;
    };
    assert.deepEqual(states('failed-connections'), { REJ: 1, S0: 1, RSTO: 1, RSTR: 1, SH: 1, RSTOS0: 1, OTH: 1, S1: 1, SF: 1 });
    assert.deepEqual(states('scan'), { REJ: 242, RSTO: 5, S0: 3 });
    assert.deepEqual(states('pod-traffic'), { SF: 71, S0: 4, S1: 2, REJ: 99, RSTO: 2 });
    assert.deepEqual(states('vxlan-overlay'), { SF: 22, RSTR: 1, S0: 46 });
    const fc = results.find((r) => r.name === 'failed-connections')!.connections;
    const hist = Object.fromEntries(fc.map((c) => [c.conn_state, c.history]));
    assert.deepEqual(hist, { REJ: 'Sr', S0: 'S', RSTO: 'ShADdR', RSTR: 'ShADdr', SH: 'SF', RSTOS0: 'SR', OTH: 'Dd', S1: 'ShADd', SF: 'ShADdFf' });
  });
});

describe('packet builder', () => {
  it('IPv4 header: length, DF, TTL, id, checksum', () => {
    const p = ipv4({ src: '10.244.1.10', dst: '10.96.0.10', id: 0x1234, ttl: 63 }, Proto.UDP, Buffer.alloc(8));
    assert.equal(p.length, 28);
    assert.equal(p.readUInt16BE(2), 28);
    assert.equal(p.readUInt16BE(4), 0x1234);
    assert.equal(p.readUInt16BE(6), 0x4000);
    assert.equal(p[8], 63);
    assert.equal(inetChecksum([p.subarray(0, 20)]), 0xffff);
    // Known-answer: RFC 1071 style example header (Wikipedia "IPv4 header checksum").
    const ref = ipv4({ src: '192.168.0.1', dst: '192.168.0.199', id: 0, ttl: 64 }, 17, Buffer.alloc(0x73 - 20));
    assert.equal(ref.readUInt16BE(10), 0xb861);
  });

  it('TCP over IPv6 with SYN options has a valid pseudo-header checksum', () => {
    const opts = tcpOptions({ mss: 1440, sackPermitted: true, timestamp: [1, 0], wscale: 7 });
    assert.equal(opts.length, 20);
    assert.deepEqual([...opts.subarray(0, 4)], [2, 4, 0x05, 0xa0]);
    const seg = tcp('fd00::1', 'fd00::2', { sport: 40000, dport: 443, seq: 1, ack: 0, flags: Flags.SYN, window: 64800, options: opts }, Buffer.alloc(0));
    assert.equal(seg[12] >> 4, 10);
    const pkt = ip({ src: 'fd00::1', dst: 'fd00::2' }, Proto.TCP, seg);
    assert.equal(pkt[0] >> 4, 6);
    const st = emptyStats();
    verifyFrame(ethernet({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02', vlan: 42 }, 0x86dd, pkt), st, 'v6');
    assert.equal(st.tcp, 1);
  });

  it('802.1Q tag, ICMP echo and UDP checksums', () => {
    const icmp = icmpEcho(false, 7, 1, Buffer.from('abcdefgh'));
    assert.equal(inetChecksum([icmp]), 0xffff);
    const f = ethernet({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02', vlan: 123 }, 0x0800, ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }, Proto.ICMP, icmp));
    assert.equal(f.readUInt16BE(12), 0x8100);
    assert.equal(f.readUInt16BE(14) & 0x0fff, 123);
    const st = emptyStats();
    verifyFrame(f, st, 'icmp');
    verifyFrame(
      ethernet(
        { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
        0x0800,
        ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }, Proto.UDP, udp('10.0.0.1', '10.0.0.2', 1, 2, Buffer.from('odd'))),
      ),
      st,
      'udp',
    );
    assert.deepEqual([st.icmp, st.udp], [1, 1]);
  });

  it('VXLAN: 8-byte header with the I flag and VNI, inner frame intact', () => {
    const inner = ethernet(
      { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
      0x0800,
      ipv4({ src: '10.244.1.2', dst: '10.244.2.3' }, Proto.UDP, udp('10.244.1.2', '10.244.2.3', 5000, 53, Buffer.from('x'))),
    );
    const f = vxlan(
      {
        outerEth: { src: '52:54:00:00:00:11', dst: '52:54:00:00:00:12' },
        outerIp: { src: '192.168.10.11', dst: '192.168.10.12', df: false },
        sport: 40000,
        dport: 8472,
        vni: 0x123456,
      },
      inner,
    );
    assert.equal(f.readUInt16BE(14 + 20 + 2), 8472);
    assert.deepEqual([...f.subarray(42, 50)], [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
    assert.ok(f.subarray(50).equals(inner));
    const st = emptyStats();
    verifyFrame(f, st, 'vxlan');
    assert.equal(st.vxlan, 1);
    assert.equal(st.udp, 2);
  });

  it('DNS: CNAME/A answer with name compression pointers', () => {
    const name = 'redis.cache.svc.cluster.local';
    const m = dnsMessage({
      id: 0xbeef,
      response: true,
      aa: true,
      ra: true,
      questions: [{ name, type: DnsType.A }],
      answers: [
        { name, type: DnsType.CNAME, ttl: 30, data: 'redis-primary.cache.svc.cluster.local' },
        { name: 'redis-primary.cache.svc.cluster.local', type: DnsType.A, ttl: 30, data: '10.96.78.9' },
      ],
    });
    assert.equal(m.readUInt16BE(0), 0xbeef);
    assert.equal(m.readUInt16BE(2), 0x8580);
    assert.deepEqual([m.readUInt16BE(4), m.readUInt16BE(6)], [1, 2]);
    const qEnd = 12 + name.length + 2 + 4;
    // First answer owner name: pointer to the question name at offset 12.
    assert.equal(m.readUInt16BE(qEnd), 0xc00c);
    // CNAME target: one new label then a pointer to "cache.svc.cluster.local" (offset 12 + 6).
    const rdata = qEnd + 2 + 8 + 2;
    assert.equal(m.readUInt16BE(rdata - 2), 1 + 13 + 2);
    assert.equal(m[rdata], 13);
    assert.equal(m.subarray(rdata + 1, rdata + 14).toString(), 'redis-primary');
    assert.equal(m.readUInt16BE(rdata + 14), 0xc000 | 18);
    // A record: owner is a pointer to the CNAME target, data is the 4 address bytes at the end.
    assert.equal(m.readUInt16BE(rdata + 16), 0xc000 | rdata);
    assert.deepEqual([...m.subarray(m.length - 4)], [10, 96, 78, 9]);
  });

  it('TCP session: handshake, seq/ack progression and FIN teardown', () => {
    const rng = new Rng(1);
    const client = { mac: '0a:58:0a:f4:01:0a', ip: '10.244.1.10', port: 40000 };
    const server = { mac: '0a:58:0a:f4:01:01', ip: '10.96.12.34', port: 8080 };
    const big = Buffer.alloc(5000, 0x61);
    const pkts = [
      ...tcpSession({
        client,
        server,
        startUs: 1e15,
        rttUs: 500,
        rng,
        framer: ethernetFramer(client.mac, server.mac),
        messages: [
          { from: 'client', data: Buffer.from('GET / HTTP/1.1\r\n\r\n') },
          { from: 'server', data: big },
        ],
      }),
    ];
    const tcpOf = (f: Buffer) => f.subarray(14 + 20);
    const flags = pkts.map((p) => tcpOf(p.data)[13]);
    assert.equal(flags[0], Flags.SYN);
    assert.equal(flags[1], Flags.SYN | Flags.ACK);
    assert.equal(flags[2], Flags.ACK);
    assert.equal(flags[flags.length - 3], Flags.FIN | Flags.ACK);
    assert.equal(flags[flags.length - 2], Flags.FIN | Flags.ACK);
    assert.equal(flags[flags.length - 1], Flags.ACK);
    const isnC = tcpOf(pkts[0].data).readUInt32BE(4),
      isnS = tcpOf(pkts[1].data).readUInt32BE(4);
    assert.equal(tcpOf(pkts[1].data).readUInt32BE(8), (isnC + 1) >>> 0);
    // Server payload bytes are contiguous: each segment starts where the previous one ended.
    let next = (isnS + 1) >>> 0,
      got = 0;
    for (const p of pkts) {
      const t = tcpOf(p.data);
      if (t.readUInt16BE(0) !== 8080) continue;
      const hl = (t[12] >> 4) * 4;
      const len = t.length - hl;
      if (len === 0) continue;
      assert.equal(t.readUInt32BE(4), next);
      next = (next + len) >>> 0;
      got += len;
      assert.ok(len <= 1398);
    }
    assert.equal(got, 5000);
    const last = tcpOf(pkts[pkts.length - 1].data);
    assert.equal(last.readUInt32BE(8), (next + 1) >>> 0, 'final ACK covers the server FIN');
    for (let i = 1; i < pkts.length; i++) assert.ok(pkts[i].tsUs >= pkts[i - 1].tsUs);
  });

  it('mergeByTime interleaves conversations in time order', () => {
    const mk = (start: number, n: number, step: number) => ({
      startUs: start,
      packets: Array.from({ length: n }, (_, i) => ({ tsUs: start + i * step, data: Buffer.from([start]) }))[Symbol.iterator](),
    });
    const out = [...mergeByTime([mk(1, 3, 10), mk(5, 3, 2), mk(30, 1, 1)][Symbol.iterator]())].map((p) => p.tsUs);
    assert.deepEqual(out, [1, 5, 7, 9, 11, 21, 30]);
  });
});

describe('pcap writer', () => {
  it('streams many records through a slow stream with backpressure and the right sizes', async () => {
    const sink = new PassThrough({ highWaterMark: 64 * 1024 });
    const parts: Buffer[] = [];
    let paused = 0;
    sink.on('data', (d: Buffer) => {
      parts.push(d);
      // Consume slowly so write() reports a full buffer.
      sink.pause();
      paused++;
      setImmediate(() => sink.resume());
    });
    const w = new PcapWriter(sink, { chunkBytes: 64 * 1024 });
    let waits = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const data = Buffer.alloc(60 + (i % 40), i & 0xff);
      if (!w.write(data, 1768471200 + Math.floor(i / 1000), (i % 1000) * 1000)) {
        waits++;
        await w.drain();
      }
    }
    const ended = once(sink, 'end');
    await w.close();
    await ended;
    const file = Buffer.concat(parts);
    assert.ok(waits > 0, 'backpressure was exercised');
    assert.ok(paused > 1);
    assert.equal(w.packets, n);
    assert.equal(file.length, w.bytes);
    const { frames, ts } = readPcap(file);
    assert.equal(frames.length, n);
    assert.equal(frames[12_345].length, 60 + (12_345 % 40));
    assert.equal(frames[12_345][0], 12_345 & 0xff);
    assert.equal(ts[1001], 1768471201 * 1e6 + 1000);
  });

  it('nanosecond files use magic a1b23c4d and nanosecond fractions', () => {
    const b = encodePcap([{ data: Buffer.alloc(60), tsUs: 1768471200_123456 }], { nanosecond: true });
    assert.equal(b.readUInt32LE(0), 0xa1b23c4d);
    assert.equal(b.readUInt32LE(24), 1768471200);
    assert.equal(b.readUInt32LE(28), 123456000);
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (d: Buffer) => chunks.push(d));
    const ended = once(sink, 'end');
    const w = new PcapWriter(sink, { nanosecond: true });
    w.writeUs(Buffer.alloc(60), 1768471200_123456);
    return w.close().then(async () => {
      await ended;
      assert.ok(Buffer.concat(chunks).equals(b));
    });
  });
});
