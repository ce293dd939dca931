import { strict as assert } from 'node:assert';
import { StreamBuffer } from '../../parsers/protocols/analyzer';
import { DnsAnalyzer } from '../../parsers/protocols/dns';
import { HttpAnalyzer } from '../../parsers/protocols/http';
import { AnalyzerMux, DEFAULT_FACTORIES } from '../../parsers/protocols/mux';
import type { AppRecord } from '../../parsers/record/app';
import { dnsMessage, httpRequest, httpResponse } from '../../samples/lib/packet-builder';
import { analyzerFactory } from '../../src/analyze/app';
import { collector, rng } from './helpers';
import type { AppRecordOut } from '../../parsers/record/app';

function mux(transport: 'tcp' | 'udp', streams: [boolean, Buffer][], opts = {}): { m: AnalyzerMux; recs: AppRecord[] } {
  const recs: AppRecord[] = [];
  const m = new AnalyzerMux(transport, (r) => recs.push(r), opts);
  let ts = 1;
  for (const [isOrig, b] of streams) m.data(isOrig, b, 0, b.length, ts++);
  m.end(ts);
  return { m, recs };
}

describe('protocols/mux (dynamic service detection)', () => {
  it('confirms HTTP from the payload whatever the port, and drops the other candidates', () => {
    const { m, recs } = mux('tcp', [
      [true, httpRequest('GET', '/healthz', 'api:9000')],
      [false, httpResponse(200, 'OK', [], Buffer.from('ok'))],
    ]);
    assert.deepEqual(m.services, ['http']);
    assert.equal(recs.length, 1);
    assert.equal(recs[0].kind, 'http');
  });

  it('confirms DNS over TCP and over UDP', () => {
    const q = dnsMessage({ id: 5, response: false, questions: [{ name: 'redis.db.svc.cluster.local', type: 1 }] });
    const framed = Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]);
    assert.deepEqual(mux('tcp', [[true, framed]]).m.services, ['dns']);
    const u = mux('udp', [[true, q]]);
    assert.deepEqual(u.m.services, ['dns']);
    assert.equal(u.recs.length, 1);
  });

  it('the DNS pre-filter never refuses a first message the DNS analyzer would confirm (UDP and TCP)', () => {
    const dns = DEFAULT_FACTORIES.find((f) => f.name === 'dns')!;
    const r = rng(12);
    let refused = 0;
    for (let i = 0; i < 20000; i++) {
      // A valid query or response with random header flags: the analyzer decides on those.
      const q = dnsMessage({ id: i & 0xffff, response: r() < 0.5, questions: [{ name: 'svc.ns.svc.cluster.local', type: 1 }] });
      q[2] = Math.floor(r() * 256);
      q[3] = Math.floor(r() * 256);
      // And sometimes its counts (the UDP reading judges whether they fit the datagram).
      if (r() < 0.3) q[4 + Math.floor(r() * 8)] = Math.floor(r() * 4);
      const framed = Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]);
      for (const [transport, b] of [
        ['udp', q],
        ['tcp', framed],
      ] as const) {
        if (dns.accepts!(true, b, 0, b.length, transport)) continue;
        refused++;
        const a = new DnsAnalyzer(collector(transport).opts);
        a.data(true, b, 0, b.length, 1);
        assert.notEqual(a.state, 'confirmed', `${transport} ${b.subarray(0, 8).toString('hex')}`);
      }
    }
    assert.ok(refused > 1000, `only ${refused} refused: the property was barely exercised`);
  });

  it('analyzerFactory: records tied to their connection; detection decided by the first payload, as the mux decides it', () => {
    const recs: AppRecordOut[] = [];
    const make = analyzerFactory((r) => recs.push(r));
    const info = (uid: string) => ({ uid, proto: 'udp' as const, orig_h: '10.244.1.5', orig_p: 40000, resp_h: '10.96.0.10', resp_p: 53, ts: 1 });
    const q = dnsMessage({ id: 7, response: false, questions: [{ name: 'api.default.svc.cluster.local', type: 1 }] });
    const statsd = Buffer.from('api.requests:1|c');
    const dnsConn = make(info('Cdns'))!;
    dnsConn.datagram(true, q, 0, q.length, 1);
    dnsConn.end(2);
    assert.deepEqual(dnsConn.services(), ['dns']);
    assert.deepEqual(
      recs.map((r) => [r.kind, r.uid, r.conn.resp_p]),
      [['dns', 'Cdns', 53]],
    );
    // Nothing takes the first datagram: the connection is not analysed any further.
    const other = make(info('Cother'))!;
    other.datagram(true, statsd, 0, statsd.length, 1);
    other.datagram(true, q, 0, q.length, 2);
    other.end(3);
    assert.deepEqual(other.services(), []);
    assert.equal(recs.length, 1);
    // A connection without payload, or starting with a gap, has nothing to say.
    const silent = make(info('Csilent'))!;
    silent.end(1);
    assert.deepEqual(silent.services(), []);
    const gap = make({ ...info('Cgap'), proto: 'tcp' })!;
    gap.gap(true, 100);
    gap.stream(true, q, 0, q.length, 1);
    gap.end(2);
    assert.deepEqual(gap.services(), []);
    assert.equal(make({ ...info('Cicmp'), proto: 'icmp' }), null);
  });

  it('gives up on unknown protocols: no service, nothing emitted, analysis stops', () => {
    const r = rng(1);
    const junk = Buffer.alloc(2000);
    for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(r() * 256);
    // Not a method letter, not a TLS handshake, and a DNS/TCP length prefix (5) shorter than a header.
    junk[0] = 0x00;
    junk[1] = 0x05;
    const { m, recs } = mux('tcp', [
      [true, junk],
      [false, junk],
    ]);
    assert.deepEqual(m.services, []);
    assert.equal(recs.length, 0);
    assert.ok(m.done);
    // Candidates whose cheap pre-filter refused the first bytes were never built; the others left a reason.
    assert.ok(m.issues.length >= 1);
    assert.ok(
      m.issues.every((i) => i.kind === 'failure'),
      JSON.stringify(m.issues),
    );
    assert.ok(m.issues.some((i) => i.analyzer === 'dns' && i.code === 'dns-tcp-length'));
  });

  it('gives up after maxProbeBytes when nobody decides', () => {
    // An HTTP request line that never ends keeps HTTP probing; the probe budget stops it.
    const { m } = mux('tcp', [[true, Buffer.from(`GET /${'a'.repeat(5000)}`)]], { maxProbeBytes: 1024 });
    assert.ok(m.done);
    assert.deepEqual(m.services, []);
  });

  it('pre-filters and analyzers never throw on short or random first payloads', () => {
    const r = rng(7);
    for (let i = 0; i < 3000; i++) {
      const n = Math.floor(r() * 40);
      const b = Buffer.alloc(n);
      for (let j = 0; j < n; j++) b[j] = Math.floor(r() * 256);
      const m = new AnalyzerMux(i % 2 ? 'tcp' : 'udp', () => undefined, { onIdentify: () => undefined });
      m.data(r() < 0.5, b, 0, n, 1);
      m.data(r() < 0.5, b, 0, n, 2);
      m.gap(true, 10);
      m.end(3);
    }
  });

  it('analyzers clamp bad slices instead of reading out of range, and never throw', () => {
    const b = Buffer.from('GET / HTTP/1.1\r\n\r\n');
    for (const a of [new HttpAnalyzer(collector('tcp').opts), new DnsAnalyzer(collector('udp').opts)]) {
      a.data(true, b, 10, 1000, 1);
      a.data(true, b, -5, 3, 1);
      a.gap(true, 100);
      a.end(2);
    }
  });

  it('StreamBuffer parses in place when it can and bounds the pending tail', () => {
    const seen: string[] = [];
    const sb = new StreamBuffer(8, (buf, off, end) => {
      const nl = buf.indexOf(0x0a, off);
      if (nl < 0 || nl >= end) return 0;
      seen.push(buf.toString('latin1', off, nl));
      return nl + 1 - off;
    });
    assert.ok(sb.feed(Buffer.from('ab\ncd'), 0, 5));
    assert.equal(sb.pending, 2);
    assert.ok(sb.feed(Buffer.from('e\nf'), 0, 3));
    assert.deepEqual(seen, ['ab', 'cde']);
    assert.equal(sb.consumed, 7);
    assert.equal(sb.feed(Buffer.from('123456789'), 0, 9), false);
  });
});
