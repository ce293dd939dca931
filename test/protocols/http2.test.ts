import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { H2_PREFACE, Http2Analyzer } from '../../parsers/protocols/http2';
import { AnalyzerMux } from '../../parsers/protocols/mux';
import type { AnyAppRecord, Http2LogRecord, HttpLogRecord } from '../../parsers/record/app';
import { analyzerFactory } from '../../src/analyze/app';
import { analyzeFile } from '../../src/analyze/pipeline';
import type { ConnRecord } from '../../parsers/record/conn';
import { AppLogs, appNdjsonLine, zeekAppJson } from '../../src/output/app-formats';
import { TextSink } from '../../src/output/sink';
import { collector, feedSplit, mutate, plain, rng } from './helpers';
import type { AppRecordOut } from '../../parsers/record/app';

// ---- a small HTTP/2 encoder for the tests: frames, and HPACK literals (never indexed, no Huffman) ----

function frame(type: number, flags: number, sid: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(sid, 5);
  return Buffer.concat([h, payload]);
}
const settings = (pairs: [number, number][] = []): Buffer => {
  const p = Buffer.alloc(pairs.length * 6);
  pairs.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v, i * 6 + 2);
  });
  return frame(4, 0, 0, p);
};
/** HPACK block: each header as a literal with incremental indexing, new name, plain strings. */
function block(headers: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [n, v] of headers) {
    const nb = Buffer.from(n, 'latin1');
    const vb = Buffer.from(v, 'latin1');
    assert.ok(nb.length < 127 && vb.length < 127);
    parts.push(Buffer.from([0x40, nb.length]), nb, Buffer.from([vb.length]), vb);
  }
  return Buffer.concat(parts);
}
const grpcMessage = (payload: string): Buffer => {
  const b = Buffer.from(payload);
  const h = Buffer.alloc(5);
  h.writeUInt32BE(b.length, 1);
  return Buffer.concat([h, b]);
};

const REQ: [string, string][] = [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/payments.v1.Ledger/Transfer'],
  [':authority', 'ledger.payments.svc.cluster.local:9090'],
  ['content-type', 'application/grpc'],
  ['user-agent', 'grpc-go/1.62.0'],
  ['te', 'trailers'],
];

/** A gRPC call with trailers, split into the client's and the server's byte streams. */
function grpcCall(): { client: Buffer; server: Buffer } {
  const req = block(REQ);
  const msg = grpcMessage('{"from":"a","to":"b","amount":42}');
  const client = Buffer.concat([
    H2_PREFACE,
    settings([
      [3, 100],
      [4, 65535],
    ]),
    frame(8, 0, 0, Buffer.from([0, 0, 0xff, 0])), // WINDOW_UPDATE
    // Header block across HEADERS + CONTINUATION, with the PRIORITY flag.
    frame(1, 0x20, 1, Buffer.concat([Buffer.from([0, 0, 0, 0, 15]), req.subarray(0, 30)])),
    frame(9, 0x4, 1, req.subarray(30)),
    frame(0, 0x1, 1, msg),
    frame(4, 0x1, 0, Buffer.alloc(0)), // SETTINGS ACK
  ]);
  // The server indexes its headers too; the second use of each header is an index (dynamic table).
  const resp = block([
    [':status', '200'],
    ['content-type', 'application/grpc'],
  ]);
  const out = grpcMessage('{"ok":true}');
  const trailers = block([
    ['grpc-status', '0'],
    ['grpc-message', 'transfer%20accepted'],
  ]);
  const server = Buffer.concat([
    settings([
      [1, 4096],
      [5, 16384],
    ]),
    frame(4, 0x1, 0, Buffer.alloc(0)),
    frame(1, 0x4, 1, resp),
    // Padded DATA: 3 bytes of padding after the message.
    frame(0, 0x8, 1, Buffer.concat([Buffer.from([3]), out, Buffer.alloc(3)])),
    frame(1, 0x5, 1, trailers),
    frame(6, 0, 0, Buffer.alloc(8)), // PING
  ]);
  return { client, server };
}

const EXPECTED_CALL: Http2LogRecord = {
  kind: 'http2',
  ts: 1,
  stream_id: 1,
  method: 'POST',
  host: 'ledger.payments.svc.cluster.local:9090',
  uri: '/payments.v1.Ledger/Transfer',
  scheme: 'http',
  referrer: null,
  user_agent: 'grpc-go/1.62.0',
  request_body_len: 5 + 33,
  response_body_len: 5 + 11,
  status_code: 200,
  info_code: null,
  orig_content_type: 'application/grpc',
  resp_content_type: 'application/grpc',
  grpc_service: 'payments.v1.Ledger',
  grpc_method: 'Transfer',
  grpc_status: 0,
  grpc_message: 'transfer accepted',
  push: false,
  upgraded: false,
  reset: null,
};

function run(client: Buffer, server: Buffer, cutsC: number[] = [], cutsS: number[] = [], max?: number): { a: Http2Analyzer; records: AnyAppRecord[] } {
  const c = collector('tcp', max);
  const a = new Http2Analyzer(c.opts);
  feedSplit(a, true, client, cutsC, 1);
  feedSplit(a, false, server, cutsS, 2);
  a.end(3);
  return { a, records: c.records };
}

describe('protocols/http2 (RFC 9113, gRPC)', () => {
  it('decodes a gRPC call with CONTINUATION, padding and trailers into one record', () => {
    const { client, server } = grpcCall();
    const { a, records } = run(client, server);
    assert.equal(a.state, 'confirmed');
    assert.deepEqual(a.issues, []);
    assert.deepEqual(plain(records), [EXPECTED_CALL]);
  });

  it('gives the same record for the streams split at every byte offset', () => {
    const { client, server } = grpcCall();
    for (let i = 1; i < client.length; i++) assert.deepEqual(plain(run(client, server, [i]).records), [EXPECTED_CALL], `client cut at ${i}`);
    for (let i = 1; i < server.length; i++) assert.deepEqual(plain(run(client, server, [], [i]).records), [EXPECTED_CALL], `server cut at ${i}`);
    // One byte at a time.
    const every = (b: Buffer): number[] => Array.from({ length: b.length }, (_, i) => i);
    assert.deepEqual(plain(run(client, server, every(client), every(server)).records), [EXPECTED_CALL]);
  });

  it('parses many frames and streams in one segment, with the dynamic table carried across them', () => {
    const parts: Buffer[] = [H2_PREFACE, settings()];
    const resp: Buffer[] = [settings()];
    for (let sid = 1; sid <= 99; sid += 2) {
      // First request: literals with indexing, the table becomes [user-agent, authority, path, method]
      // (newest first, from index 62). Each later request adds its :path literal in front, then
      // names the other three by index, each one further down per request.
      const k = (sid - 1) / 2;
      const headers: [string, string][] = [
        [':method', 'GET'],
        [':path', `/item/${sid}`],
        [':authority', 'catalog:8080'],
        ['user-agent', 'curl/8.5'],
      ];
      const b =
        k === 0 ? block(headers) : Buffer.concat([block([[':path', `/item/${sid}`]]), Buffer.from([0x80 | (65 + k), 0x80 | (63 + k), 0x80 | (62 + k)])]);
      parts.push(frame(1, 0x5, sid, b));
      resp.push(frame(1, 0x4, sid, Buffer.from([0x88])), frame(0, 0x1, sid, Buffer.alloc(sid)));
    }
    const { a, records } = run(Buffer.concat(parts), Buffer.concat(resp));
    assert.equal(a.issues.length, 0, JSON.stringify(a.issues));
    const recs = records as Http2LogRecord[];
    assert.equal(recs.length, 50);
    assert.deepEqual(
      recs.map((r) => r.stream_id),
      Array.from({ length: 50 }, (_, i) => 2 * i + 1),
    );
    assert.ok(recs.every((r, i) => r.uri === `/item/${2 * i + 1}` && r.status_code === 200 && r.response_body_len === 2 * i + 1));
    // The indexes resolved against the client's table: method, authority and user-agent of the first request.
    assert.ok(
      recs.every((r) => r.method === 'GET' && r.host === 'catalog:8080' && r.user_agent === 'curl/8.5'),
      JSON.stringify(recs[1]),
    );
  });

  it('reports protocol violations after confirmation and keeps going', () => {
    const { client, server } = grpcCall();
    // A DATA frame on stream 0, a PING of the wrong length, then a HEADERS interrupting a header block.
    const bad = Buffer.concat([
      frame(0, 0, 0, Buffer.alloc(4)),
      frame(6, 0, 0, Buffer.alloc(3)),
      frame(1, 0, 3, block([[':method', 'GET']])),
      frame(8, 0, 0, Buffer.from([0, 0, 1, 0])),
    ]);
    const { a, records } = run(Buffer.concat([client, bad]), server);
    assert.equal(a.state, 'confirmed');
    assert.deepEqual(
      a.issues.map((i) => i.code),
      ['h2-stream-id', 'h2-frame-length', 'h2-continuation'],
    );
    assert.equal(a.violations, 3);
    assert.deepEqual(plain(records)[0], EXPECTED_CALL);
  });

  it('bounds header blocks and frames: a block beyond the buffer bound stops HPACK for that direction only', () => {
    const big = block(Array.from({ length: 40 }, (_, i): [string, string] => [`x-h${i}`, 'v'.repeat(100)]));
    const client = Buffer.concat([
      H2_PREFACE,
      settings(),
      frame(1, 0, 1, big.subarray(0, 2000)),
      frame(9, 0, 1, big.subarray(2000, 4000)),
      frame(9, 0x5, 1, big.subarray(4000)),
    ]);
    const server = Buffer.concat([settings(), frame(1, 0x4, 1, Buffer.from([0x88])), frame(0, 0x1, 1, Buffer.alloc(10))]);
    const { a, records } = run(client, server, [], [], 3000);
    assert.deepEqual(
      a.issues.map((i) => i.code),
      ['h2-header-block-limit'],
    );
    const r = records[0] as Http2LogRecord;
    assert.equal(r.status_code, 200);
    assert.equal(r.response_body_len, 10);
  });

  it('rejects what is not HTTP/2 and never throws on mutated input', () => {
    const c = collector('tcp');
    const a = new Http2Analyzer(c.opts);
    a.data(true, Buffer.from('GET / HTTP/1.1\r\n\r\n'), 0, 18, 1);
    assert.equal(a.state, 'rejected');
    const { client, server } = grpcCall();
    const r = rng(7);
    for (let i = 0; i < 500; i++) {
      const cc = i % 2 === 0 ? mutate(client, r) : client;
      const ss = i % 2 === 1 ? mutate(server, r) : server;
      const cut = Math.floor(r() * cc.length);
      assert.doesNotThrow(() => run(cc, ss, [cut], [Math.floor(r() * ss.length)]));
    }
  });

  it('is detected by the multiplexer from the preface on any port; HTTP/1 does not claim the preface', () => {
    const recs: AnyAppRecord[] = [];
    const mux = new AnalyzerMux('tcp', (x) => recs.push(x));
    const { client, server } = grpcCall();
    mux.data(true, client, 0, 10, 1);
    mux.data(true, client, 10, client.length - 10, 1);
    mux.data(false, server, 0, server.length, 2);
    mux.end(3);
    assert.deepEqual(mux.services, ['http2']);
    assert.deepEqual(plain(recs), [EXPECTED_CALL]);
  });

  it('takes over after an HTTP/1.1 Upgrade: h2c and its 101, with the frames in the 101 segment', () => {
    const recs: AnyAppRecord[] = [];
    const mux = new AnalyzerMux('tcp', (x) => recs.push(x));
    const up = Buffer.from(
      'GET /feed HTTP/1.1\r\nHost: feed:8080\r\nUser-Agent: curl/7.88.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
    );
    mux.data(true, up, 0, up.length, 1);
    const resp = Buffer.concat([
      Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'),
      settings(),
      frame(
        1,
        0x4,
        1,
        block([
          [':status', '200'],
          ['content-type', 'text/event-stream'],
        ]),
      ),
    ]);
    mux.data(false, resp, 0, resp.length, 2);
    const client = Buffer.concat([H2_PREFACE, settings(), frame(4, 1, 0, Buffer.alloc(0))]);
    mux.data(true, client, 0, client.length, 3);
    const data = frame(0, 1, 1, Buffer.alloc(77));
    mux.data(false, data, 0, data.length, 4);
    mux.end(5);
    assert.deepEqual(mux.services, ['http', 'http2']);
    const http = recs.find((x) => x.kind === 'http') as HttpLogRecord;
    assert.equal(http.status_code, 101);
    assert.equal(http.upgraded, true);
    const h2 = recs.filter((x) => x.kind === 'http2') as Http2LogRecord[];
    assert.equal(h2.length, 1);
    assert.deepEqual(
      { ...plain(h2[0]), ts: 0 },
      {
        kind: 'http2',
        ts: 0,
        stream_id: 1,
        method: 'GET',
        host: 'feed:8080',
        uri: '/feed',
        scheme: 'http',
        referrer: null,
        user_agent: 'curl/7.88.1',
        request_body_len: 0,
        response_body_len: 77,
        status_code: 200,
        info_code: null,
        orig_content_type: null,
        resp_content_type: 'text/event-stream',
        grpc_service: null,
        grpc_method: null,
        grpc_status: null,
        grpc_message: null,
        push: false,
        upgraded: true,
        reset: null,
      },
    );
  });

  it('ends a stream at RST_STREAM with its error code, and logs open streams at the end', () => {
    const client = Buffer.concat([
      H2_PREFACE,
      settings(),
      frame(
        1,
        0x5,
        1,
        block([
          [':method', 'GET'],
          [':path', '/slow'],
        ]),
      ),
      frame(3, 0, 1, Buffer.from([0, 0, 0, 8])),
      frame(1, 0x5, 3, Buffer.from([0xbf, 0xbe])), // both from the dynamic table: method (63), path (62)
    ]);
    const { a, records } = run(client, settings());
    assert.deepEqual(a.issues, []);
    const recs = records as Http2LogRecord[];
    assert.deepEqual(
      recs.map((r) => [r.stream_id, r.method, r.uri, r.reset, r.status_code]),
      [
        [1, 'GET', '/slow', 'CANCEL', null],
        [3, 'GET', '/slow', null, null],
      ],
    );
  });
});

// ---- a real capture: samples/h2/h2c.pcap, made by samples/h2/make.sh (Node http2 + curl, tcpdump) ----

interface Expected {
  prior: {
    stream_id: number;
    method: string;
    path: string;
    authority: string;
    scheme: string;
    user_agent: string | null;
    content_type: string | null;
    request_body_len: number;
    status: number;
    resp_content_type: string;
    response_body_len: number;
    grpc_status?: number;
    grpc_message?: string;
  }[];
  upgrade: {
    method: string;
    uri: string;
    host: string;
    user_agent: string;
    upgrade: string;
    status: number;
    resp_content_type: string;
    response_body_len: number;
  };
}

describe('protocols/http2 on a real capture (samples/h2/h2c.pcap)', () => {
  const dir = path.resolve(__dirname, '../../../samples/h2');
  const expected = JSON.parse(fs.readFileSync(path.join(dir, 'h2c.expected.json'), 'utf8')) as Expected;
  let recs: AppRecordOut[] = [];
  let conns: ConnRecord[] = [];

  before(async () => {
    recs = [];
    conns = [];
    await analyzeFile(path.join(dir, 'h2c.pcap'), (c) => conns.push(c), { tracker: { payload: analyzerFactory((r) => recs.push(r)) } });
  });

  it('names the services from the payload: http2 on 50051, http and http2 for the upgrade on 8081', () => {
    const byPort = new Map(conns.map((c) => [c.resp_p, c.service]));
    assert.deepEqual(byPort.get(50051), ['http2']);
    assert.deepEqual(byPort.get(8081), ['http', 'http2']);
  });

  it('decodes every stream the server saw, as the endpoints sent it (gRPC included)', () => {
    const h2 = recs.filter((r): r is AppRecordOut & Http2LogRecord => r.kind === 'http2' && r.conn.resp_p === 50051);
    assert.equal(h2.length, expected.prior.length);
    for (const e of expected.prior) {
      const r = h2.find((x) => x.stream_id === e.stream_id);
      assert.ok(r, `stream ${e.stream_id}`);
      const grpc = e.content_type?.startsWith('application/grpc') === true;
      const [svc, meth] = grpc ? e.path.slice(1).split('/') : [null, null];
      assert.deepEqual(
        [
          r.method,
          r.uri,
          r.host,
          r.scheme,
          r.user_agent,
          r.orig_content_type,
          r.request_body_len,
          r.status_code,
          r.resp_content_type,
          r.response_body_len,
          r.grpc_service,
          r.grpc_method,
          r.grpc_status,
          r.grpc_message,
        ],
        [
          e.method,
          e.path,
          e.authority,
          e.scheme,
          e.user_agent,
          e.content_type,
          e.request_body_len,
          e.status,
          e.resp_content_type,
          e.response_body_len,
          svc,
          meth,
          e.grpc_status ?? null,
          e.grpc_message ?? null,
        ],
        `stream ${e.stream_id}`,
      );
    }
    assert.ok(h2.some((r) => r.grpc_status === 5 && r.grpc_method === 'Fail'));
  });

  it('follows curl through the h2c upgrade: the HTTP/1.1 request is stream 1, answered in HTTP/2', () => {
    const u = expected.upgrade;
    const http = recs.find((r): r is AppRecordOut & HttpLogRecord => r.kind === 'http' && r.conn.resp_p === 8081);
    assert.ok(http);
    assert.deepEqual([http.method, http.uri, http.status_code, http.upgrade, http.upgraded], [u.method, u.uri, 101, u.upgrade, true]);
    const h2 = recs.filter((r): r is AppRecordOut & Http2LogRecord => r.kind === 'http2' && r.conn.resp_p === 8081);
    assert.equal(h2.length, 1);
    assert.deepEqual(
      [
        h2[0].stream_id,
        h2[0].upgraded,
        h2[0].method,
        h2[0].uri,
        h2[0].host,
        h2[0].user_agent,
        h2[0].status_code,
        h2[0].resp_content_type,
        h2[0].response_body_len,
      ],
      [1, true, u.method, u.uri, u.host, u.user_agent, u.status, u.resp_content_type, u.response_body_len],
    );
  });

  it('writes http2.log beside the others in the Zeek formats', async () => {
    const text: string[] = [];
    const sink = (): TextSink =>
      new TextSink(
        new Writable({
          write(chunk: Buffer, _enc, cb): void {
            text.push(chunk.toString('utf8'));
            cb();
          },
        }),
      );
    const logs = new AppLogs('zeek', sink, () => new Date(0));
    for (const r of recs) if (r.kind === 'http2') logs.write(r);
    await logs.close();
    const lines = text.join('').split('\n');
    assert.ok(lines.includes('#path\thttp2'));
    const fields = lines
      .find((l) => l.startsWith('#fields'))!
      .split('\t')
      .slice(1);
    const rows = lines.filter((l) => l !== '' && !l.startsWith('#')).map((l) => Object.fromEntries(l.split('\t').map((v, i) => [fields[i], v])));
    assert.equal(rows.length, expected.prior.length + 1);
    const ok = rows.find((r) => r.grpc_method === 'SayHello')!;
    assert.deepEqual([ok.grpc_service, ok.grpc_status, ok.grpc_message, ok['id.resp_p']], ['demo.v1.Greeter', '0', 'OK', '50051']);
    // Zeek JSON and ndjson: the same fields, unset ones left out of Zeek JSON.
    const fail = recs.find((r): r is AppRecordOut & Http2LogRecord => r.kind === 'http2' && r.grpc_method === 'Fail')!;
    const zj = zeekAppJson(fail);
    assert.deepEqual([zj.stream_id, zj.grpc_status, zj.grpc_message, 'referrer' in zj], [fail.stream_id, 5, 'user "émile" not found: 100%', false]);
    const nd = JSON.parse(appNdjsonLine(fail)) as Record<string, unknown>;
    assert.deepEqual([nd._path, nd.uid, nd['id.resp_p'], nd.grpc_service, nd.push], ['http2', fail.uid, 50051, 'demo.v1.Greeter', false]);
  });
});
