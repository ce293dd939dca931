import { strict as assert } from 'node:assert';
import { HttpAnalyzer } from '../../parsers/protocols/http';
import { AnalyzerMux } from '../../parsers/protocols/mux';
import type { AppRecord, HttpLogRecord, TlsLogRecord } from '../../parsers/record/app';
import { httpRequest, httpResponse } from '../../samples/lib/packet-builder';
import { readZeekLog } from '../conformance/zeek-log';
import { corpusPath, requireCorpus } from '../util/corpus';
import { readFlows } from './flows';
import { collector, feedSplit, mutate, plain, rng } from './helpers';

const REQ1 = httpRequest('GET', '/api/v1/orders?id=7', 'orders.shop.svc.cluster.local', [
  ['User-Agent', 'Go-http-client/1.1'],
  ['Referer', 'http://frontend/'],
]);
const REQ2 = httpRequest('POST', '/api/v1/pay', 'payments:8080', [['Content-Type', 'application/json']], Buffer.from('{"amount":12}'));
const RESP1 = httpResponse(200, 'OK', [['Content-Type', 'application/json']], Buffer.from('{"id":7,"state":"paid"}'));
const RESP2_CHUNKED = Buffer.from(
  'HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: y\r\n\r\n',
  'latin1',
);

function run(orig: Buffer, resp: Buffer, cutO: number[] = [], cutR: number[] = []): { recs: HttpLogRecord[]; a: HttpAnalyzer } {
  const c = collector('tcp');
  const a = new HttpAnalyzer(c.opts);
  feedSplit(a, true, orig, cutO, 1);
  feedSplit(a, false, resp, cutR, 2);
  a.end(3);
  return { recs: plain(c.records) as HttpLogRecord[], a };
}

describe('protocols/http', () => {
  it('parses pipelined requests and responses (Content-Length and chunked) into http.log records', () => {
    const { recs, a } = run(Buffer.concat([REQ1, REQ2]), Buffer.concat([RESP1, RESP2_CHUNKED]));
    assert.equal(a.state, 'confirmed');
    assert.equal(a.issues.length, 0);
    assert.equal(recs.length, 2);
    assert.deepEqual(
      recs.map((r) => [
        r.trans_depth,
        r.method,
        r.host,
        r.uri,
        r.version,
        r.user_agent,
        r.referrer,
        r.request_body_len,
        r.response_body_len,
        r.status_code,
        r.status_msg,
        r.orig_content_type,
        r.resp_content_type,
      ]),
      [
        [
          1,
          'GET',
          'orders.shop.svc.cluster.local',
          '/api/v1/orders?id=7',
          '1.1',
          'Go-http-client/1.1',
          'http://frontend/',
          0,
          23,
          200,
          'OK',
          null,
          'application/json',
        ],
        [2, 'POST', 'payments:8080', '/api/v1/pay', '1.1', null, null, 13, 11, 201, 'Created', 'application/json', 'text/plain'],
      ],
    );
  });

  it('gives the same records for every split offset of request and response streams', () => {
    const o = Buffer.concat([REQ1, REQ2]);
    const r = Buffer.concat([RESP1, RESP2_CHUNKED]);
    const whole = run(o, r).recs;
    for (let i = 1; i < o.length; i++) assert.deepEqual(run(o, r, [i]).recs, whole, `request cut at ${i}`);
    for (let i = 1; i < r.length; i++) assert.deepEqual(run(o, r, [], [i]).recs, whole, `response cut at ${i}`);
    assert.deepEqual(run(o, r, [...Array(o.length).keys()], [...Array(r.length).keys()]).recs, whole, 'byte by byte');
  });

  it('ends a header block at a bare LF blank line as at CRLF, in any chunking', () => {
    const o = Buffer.from('GET /a HTTP/1.1\nHost: h1\nUser-Agent: u\n\nGET /b HTTP/1.1\r\nHost: h2\n\r\nGET /c HTTP/1.1\r\nHost: h3\r\n\n');
    const r = Buffer.from(
      'HTTP/1.1 200 OK\nContent-Length: 2\n\nabHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\nc',
    );
    const whole = run(o, r).recs;
    assert.deepEqual(
      whole.map((x) => [x.uri, x.host, x.user_agent, x.status_code, x.response_body_len]),
      [
        ['/a', 'h1', 'u', 200, 2],
        ['/b', 'h2', null, 404, 0],
        ['/c', 'h3', null, 200, 1],
      ],
    );
    for (let i = 1; i < o.length; i++) assert.deepEqual(run(o, r, [i], [i % r.length]).recs, whole, `cut at ${i}`);
  });

  it('handles 100 Continue, HEAD, 304, read-until-close bodies and HTTP/1.0', () => {
    const o = Buffer.from(
      'PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabcHEAD /y HTTP/1.1\r\nHost: h\r\n\r\nGET /z HTTP/1.0\r\n\r\n',
    );
    const r = Buffer.from(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\nHTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>until close</html>',
    );
    const { recs } = run(o, r);
    assert.deepEqual(
      recs.map((x) => [x.method, x.version, x.status_code, x.info_code, x.request_body_len, x.response_body_len]),
      [
        ['PUT', '1.1', 204, 100, 3, 0],
        ['HEAD', '1.1', 200, null, 0, 0],
        // 24 bytes read to the close without a final line end: Zeek counts the CRLF its line
        // reader gives the last line (http-single-conn-22 baseline: 12632 for 12630 bytes).
        ['GET', '1.0', 200, null, 0, 26],
      ],
    );
  });

  it('stops after 101 Switching Protocols (WebSocket, h2c) and records the upgrade', () => {
    const o = Buffer.concat([
      Buffer.from('GET /ws HTTP/1.1\r\nHost: chat\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n'),
      Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6f, 0x68, 0x6e]),
    ]);
    const r = Buffer.concat([
      Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
      Buffer.from([0x81, 0x02, 0x68, 0x69]),
    ]);
    const { recs, a } = run(o, r);
    assert.equal(a.issues.length, 0);
    assert.equal(recs.length, 1);
    assert.deepEqual([recs[0].status_code, recs[0].upgrade, recs[0].upgraded], [101, 'websocket', true]);
    const h2c = run(
      Buffer.from('GET / HTTP/1.1\r\nHost: grpc\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n'),
      Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00'),
    );
    assert.deepEqual([h2c.recs[0].upgrade, h2c.recs[0].upgraded, h2c.a.issues.length], ['h2c', true, 0]);
  });

  it('rejects non-HTTP at once while probing; bounds header buffering; violations after confirmation are recorded', () => {
    const c = collector('tcp');
    const a = new HttpAnalyzer(c.opts);
    const tls = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x10]);
    a.data(true, tls, 0, tls.length, 1);
    assert.equal(a.state, 'rejected');
    const b = new HttpAnalyzer(collector('tcp', 1024).opts);
    const huge = Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(4000)}`);
    b.data(true, huge, 0, huge.length, 1);
    assert.equal(b.state, 'rejected');
    assert.equal(b.issues[0].kind, 'limit');
    const v = run(REQ1, Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'));
    assert.equal(v.a.state, 'confirmed');
    assert.equal(v.a.violations, 1);
    assert.equal(v.a.issues[0].code, 'http-chunk-size');
  });

  it('never throws on thousands of random mutations', () => {
    const r = rng(80);
    const o = Buffer.concat([REQ1, REQ2]);
    const s = Buffer.concat([RESP1, RESP2_CHUNKED]);
    for (let i = 0; i < 3000; i++) {
      const mo = mutate(o, r);
      const ms = mutate(s, r);
      run(mo, ms, [Math.floor(r() * mo.length)], [Math.floor(r() * ms.length)]);
    }
  });

  describe('conformance with Zeek http.log', () => {
    const cases: [string, string][] = [
      ['zeek/wikipedia.pcap', 'zeek/wikipedia.pcap.zeek.opt.basic.http.log'],
      ['zeek/http/get.pcap', 'zeek/http/get.pcap.zeek.core.tcp.reassembly-known-ports.http.log'],
    ];
    const fields = [
      'trans_depth',
      'method',
      'host',
      'uri',
      'referrer',
      'version',
      'user_agent',
      'request_body_len',
      'response_body_len',
      'status_code',
      'status_msg',
    ] as const;
    for (const [pcap, log] of cases) {
      it(`${pcap}: ${fields.join(', ')}`, async function (this: Mocha.Context) {
        requireCorpus(this);
        const flows = await readFlows(corpusPath(pcap));
        const ours = new Map<string, HttpLogRecord[]>();
        for (const f of flows) {
          if (f.proto !== 'tcp') continue;
          const recs: HttpLogRecord[] = [];
          const mux = new AnalyzerMux('tcp', (x) => recs.push(x as HttpLogRecord));
          for (const ch of f.chunks) mux.data(ch.isOrig, ch.data, 0, ch.data.length, ch.ts);
          mux.end(Infinity);
          if (recs.length > 0) assert.deepEqual(mux.services, ['http']);
          ours.set(`${f.orig_h}|${f.orig_p}|${f.resp_h}|${f.resp_p}`, recs);
        }
        const rows = readZeekLog(corpusPath(log));
        let n = 0;
        let ok = 0;
        const diffs: string[] = [];
        for (const z of rows) {
          const key = `${z['id.orig_h']}|${z['id.orig_p']}|${z['id.resp_h']}|${z['id.resp_p']}`;
          const r = ours.get(key)?.find((x) => String(x.trans_depth) === z.trans_depth);
          for (const f of fields) {
            n++;
            const v = r?.[f];
            const got = v === null || v === undefined ? '-' : String(v);
            if (got === z[f]) ok++;
            else diffs.push(`${key}#${z.trans_depth} ${f}: zeek ${z[f]} ours ${got}`);
          }
        }
        console.log(
          `      ${pcap}: ${rows.length} rows, ${ok}/${n} fields agree (${((100 * ok) / n).toFixed(1)}%)${diffs.length ? `\n        ${diffs.slice(0, 5).join('\n        ')}` : ''}`,
        );
        assert.ok(n > 0 && ok / n >= 0.98, diffs.join('\n'));
      });
    }
  });
});

describe('protocols/http: CONNECT tunnels (Zeek hands the tunnel to a new analyzer tree with DPD)', () => {
  const CONNECT = Buffer.from('CONNECT db.internal:6379 HTTP/1.1\r\nHost: db.internal:6379\r\n\r\n', 'latin1');
  const PING = Buffer.from('*1\r\n$4\r\nPING\r\n', 'latin1');
  const PONG = Buffer.from('+PONG\r\n', 'latin1');

  function mux(streams: [boolean, Buffer][]): { m: AnalyzerMux; recs: HttpLogRecord[] } {
    const recs: HttpLogRecord[] = [];
    const m = new AnalyzerMux('tcp', (r) => (r.kind === 'http' ? recs.push(r) : undefined), { respPort: 3128 });
    let ts = 1;
    for (const [isOrig, b] of streams) m.data(isOrig, b, 0, b.length, ts++);
    m.end(ts);
    return { m, recs };
  }

  it('after a 2xx the bytes of both directions are detected afresh, the client’s sent before the reply included', () => {
    const ok = Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n', 'latin1');
    for (const streams of [
      [
        [true, CONNECT],
        [false, ok],
        [true, PING],
        [false, PONG],
      ],
      // The client does not wait for the reply; the reply and the server's first bytes share a segment.
      [
        [true, Buffer.concat([CONNECT, PING])],
        [false, Buffer.concat([ok, PONG])],
      ],
    ] as [boolean, Buffer][][]) {
      const { m, recs } = mux(streams);
      assert.deepEqual(m.services, ['http', 'redis']);
      assert.equal(recs.length, 1);
      assert.deepEqual([recs[0].method, recs[0].host, recs[0].status_code], ['CONNECT', 'db.internal:6379', 200]);
    }
  });

  it('a refused CONNECT leaves the connection in HTTP: what the client sent meanwhile is its next request', () => {
    const denied = httpResponse(407, 'Proxy Authentication Required', [['Proxy-Authenticate', 'Basic realm="proxy"']], Buffer.from('denied'));
    const { m, recs } = mux([
      [true, Buffer.concat([CONNECT, REQ1])],
      [false, Buffer.concat([denied, RESP1])],
    ]);
    assert.deepEqual(m.services, ['http']);
    assert.deepEqual(
      recs.map((r) => [r.method, r.status_code, r.response_body_len]),
      [
        ['CONNECT', 407, 6],
        ['GET', 200, 23],
      ],
    );
  });

  it('connect-with-header.pcap: service http,ssl; the CONNECT as in Zeek’s http.log, and the TLS inside (SNI secure.newegg.com)', async function () {
    requireCorpus(this);
    const flows = (await readFlows(corpusPath('zeek/http/connect-with-header.pcap'))).filter((f) => f.proto === 'tcp');
    assert.equal(flows.length, 1);
    const recs: AppRecord[] = [];
    const m = new AnalyzerMux('tcp', (r) => recs.push(r), { respPort: 80 });
    for (const ch of flows[0].chunks) m.data(ch.isOrig, ch.data, 0, ch.data.length, ch.ts);
    m.end(Infinity);
    // conn.log: http,ssl.
    assert.deepEqual(m.services, ['http', 'ssl']);
    const z = readZeekLog(corpusPath('zeek/http/connect-with-header.pcap.zeek.scripts.base.protocols.http.http-connect-with-header.http.log'));
    assert.equal(z.length, 1);
    const http = recs.filter((r): r is HttpLogRecord => r.kind === 'http');
    assert.equal(http.length, 1);
    for (const f of ['method', 'host', 'uri', 'version', 'user_agent', 'request_body_len', 'response_body_len', 'status_code', 'status_msg'] as const)
      assert.equal(String(http[0][f]), z[0][f], f);
    const tls = recs.filter((r): r is TlsLogRecord => r.kind === 'tls');
    assert.equal(tls.length, 1);
    assert.equal(tls[0].server_name, 'secure.newegg.com');
  });
});
