import { strict as assert } from 'node:assert';
import { StreamBuffer } from '../../parsers/protocols/analyzer';
import { DnsAnalyzer } from '../../parsers/protocols/dns';
import { HttpAnalyzer } from '../../parsers/protocols/http';
import { AnalyzerMux } from '../../parsers/protocols/mux';
import type { AppRecord } from '../../parsers/protocols/records';
import { dnsMessage, httpRequest, httpResponse } from '../../samples/lib/packet-builder';
import { collector, rng } from './helpers';

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
    assert.ok(m.issues.every((i) => i.kind === 'failure'), JSON.stringify(m.issues));
    assert.ok(m.issues.some((i) => i.analyzer === 'dns' && i.code === 'dns-tcp-length'));
  });

  it('gives up after maxProbeBytes when nobody decides', () => {
    // An HTTP request line that never ends keeps HTTP probing; the probe budget stops it.
    const { m } = mux('tcp', [[true, Buffer.from('GET /' + 'a'.repeat(5000))]], { maxProbeBytes: 1024 });
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
