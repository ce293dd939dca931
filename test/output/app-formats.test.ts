/**
 * The hand-written ndjson lines of http and dns records must be the generic line (JSON.stringify
 * of the record, spliced) byte for byte: on every record the analyzers make from the samples and
 * the corpus's HTTP and DNS captures, and on records the captures do not reach (escapes, unset
 * and unexpected fields, another key order).
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory } from '../../src/analyze/app';
import type { AppRecordOut, DnsLogRecord, HttpLogRecord } from '../../parsers/record/app';
import { Writable } from 'node:stream';
import { appNdjsonLine, appNdjsonLineGeneric, writeAppNdjson } from '../../src/output/app-formats';
import { TextSink } from '../../src/output/sink';
import { corpusAvailable, corpusFiles } from '../util/corpus';

const SAMPLES = path.resolve(__dirname, '..', '..', '..', 'samples');

async function appRecords(): Promise<AppRecordOut[]> {
  const files = ['pod-traffic.pcap', 'vxlan-overlay.pcap', 'failed-connections.pcap'].map((f) => path.join(SAMPLES, f));
  if (corpusAvailable()) files.push(...corpusFiles(/\.pcap$/).filter((f) => /[/\\](http|dns)[/\\]|dns/.test(f)));
  const out: AppRecordOut[] = [];
  for (const f of files) await analyzeFile(f, () => {}, { tracker: { payload: analyzerFactory((r) => out.push(r)) } });
  return out;
}

/** What writeAppNdjson puts in a sink for these records, as the sink hands it to its stream. */
async function written(recs: readonly AppRecordOut[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  const sink = new TextSink(out);
  for (const r of recs) writeAppNdjson(sink, r);
  await sink.end();
  return Buffer.concat(chunks);
}

/** The bytes of the generic lines, as the string way writes them. */
const genericBytes = (recs: readonly AppRecordOut[]): Buffer => Buffer.from(recs.map(appNdjsonLineGeneric).join(''), 'utf8');

describe('app record ndjson', () => {
  let recs: AppRecordOut[] = [];
  before(async function () {
    this.timeout(120_000);
    recs = await appRecords();
  });

  it('equals the generic line on every http and dns record of the captures', () => {
    const http = recs.filter((r) => r.kind === 'http');
    const dns = recs.filter((r) => r.kind === 'dns');
    assert.ok(http.length > 50, `${http.length} http records`);
    assert.ok(dns.length > 50, `${dns.length} dns records`);
    for (const r of recs) assert.equal(appNdjsonLine(r), appNdjsonLineGeneric(r));
    // The line is JSON of the record's fields under their log names.
    const parsed = JSON.parse(appNdjsonLine(http[0])) as Record<string, unknown>;
    assert.deepEqual([parsed._path, parsed.uid, parsed.method, parsed['id.resp_p']], ['http', http[0].uid, http[0].method, http[0].conn.resp_p]);
  });

  it('equals the generic line on escapes, unset and unexpected values, and other shapes', () => {
    const http = recs.find((r): r is AppRecordOut & HttpLogRecord => r.kind === 'http')!;
    const dns = recs.find((r): r is AppRecordOut & DnsLogRecord => r.kind === 'dns')!;
    const odd: AppRecordOut[] = [
      { ...http, uri: '/a"b\\c\u0001\n\u2028\u00e9\ud800x', host: 'h\u007f\u00ff', user_agent: '\udc00', proxied: ['X -> "y"'], orig_filenames: ['f\tg'] },
      { ...http, status_code: Number.NaN, response_body_len: Number.POSITIVE_INFINITY, ts: -0 },
      { ...http, method: undefined as unknown as string },
      { ...http, upgraded: undefined as unknown as boolean },
      { ...http, status_code: '200' as unknown as number },
      { ...http, extra: 1 } as AppRecordOut,
      { ...dns, query: 'a\u0000b', answers: ['1.2.3.4', 'x"y'], TTLs: [30, 0.5], rtt: 1e-7 },
      { ...dns, rrs: [] },
      { ...dns, rtt: undefined as unknown as number },
    ];
    // The same fields in another order: the generic line keeps the record's order.
    const { kind, ts, ...rest } = http;
    odd.push({ ts, kind, ...rest } as AppRecordOut);
    for (const r of odd) assert.equal(appNdjsonLine(r), appNdjsonLineGeneric(r));
    assert.match(appNdjsonLine(odd[2]), /^\{"_path":"http","ts":[^,]+,"trans_depth":\d+,"host":/);
  });

  it('writes the generic lines byte for byte when it encodes them in the buffer', async () => {
    // Every record of the captures, many times over so that lines straddle the sink's buffers.
    const many: AppRecordOut[] = [];
    for (let i = 0; i < 20; i++) many.push(...recs);
    const got = await written(many);
    assert.ok(got.length > 600_000, `${got.length} bytes`);
    assert.ok(got.equals(genericBytes(many)));
  });

  it('writes the generic bytes for escapes, every UTF-8 length, unexpected values and lines longer than a buffer', async () => {
    const http = recs.find((r): r is AppRecordOut & HttpLogRecord => r.kind === 'http')!;
    const dns = recs.find((r): r is AppRecordOut & DnsLogRecord => r.kind === 'dns')!;
    const every = Array.from({ length: 0x800 }, (_, i) => String.fromCharCode(i)).join('');
    const odd: AppRecordOut[] = [
      {
        ...http,
        uri: `/a"b\\c\u0001\n\u2028\u00e9\ud800x${every}`,
        host: 'h\u007f\u00ff\u0800\uffff',
        user_agent: '\udc00\ud83d\ude00\ud83d',
        proxied: ['X -> "y\u00e9"'],
        orig_filenames: ['f\tg\ud800'],
      },
      { ...http, status_code: Number.NaN, response_body_len: Number.POSITIVE_INFINITY, ts: -0, trans_depth: 4294967295, request_body_len: 4294967296 },
      { ...http, request_body_len: -1, response_body_len: 1e21, info_code: 0.1 },
      { ...http, method: undefined as unknown as string },
      { ...http, upgraded: undefined as unknown as boolean },
      { ...http, status_code: '200' as unknown as number },
      { ...http, proxied: 'x' as unknown as string[] },
      { ...http, extra: 1 } as AppRecordOut,
      { ...http, uri: 'x'.repeat(300_000) },
      { ...dns, query: 'a\u0000b\u001f\u0008\u000c\r', answers: ['1.2.3.4', 'x"y\u00e9'], TTLs: [30, 0.5], rtt: 1e-7 },
      { ...dns, rrs: [] },
      { ...dns, rtt: undefined as unknown as number },
      { ...dns, answers: {} as unknown as string[] },
    ];
    assert.ok((await written(odd)).equals(genericBytes(odd)));
  });

  it('writes numbers as JSON.stringify does: times with microseconds and any other', async () => {
    const http = recs.find((r): r is AppRecordOut & HttpLogRecord => r.kind === 'http')!;
    const dns = recs.find((r): r is AppRecordOut & DnsLogRecord => r.kind === 'dns')!;
    // A fixed-seed generator: the same numbers every run.
    let seed = 7;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const numbers = [1, 1.5, 2.1, 1.000001, 1.0000001, 0.999999, 1768899600.000491, 1768899600.1, 4294967295.999999, 4294967296.5, 2147483647.5, 2147483648.25];
    for (let i = 0; i < 3000; i++) {
      const micros = Math.floor(rnd() * 4294967296 * 1e6);
      numbers.push(micros / 1e6, Math.floor(rnd() * 1e6) / 1e6 + Math.floor(rnd() * 100), rnd() * 10 ** Math.floor(rnd() * 12), Math.floor(rnd() * 2 ** 33));
    }
    const many: AppRecordOut[] = numbers.flatMap((n) => [
      { ...http, ts: n, trans_depth: Math.floor(n), response_body_len: n },
      { ...dns, ts: n, rtt: n / 1e6, trans_id: Math.floor(n) % 65536 },
    ]);
    assert.ok((await written(many)).equals(genericBytes(many)));
  });

  it('writes the generic bytes whatever mix of usual, other, null and unexpected values the fields hold', async () => {
    const http = recs.find((r): r is AppRecordOut & HttpLogRecord => r.kind === 'http')!;
    const dns = recs.find((r): r is AppRecordOut & DnsLogRecord => r.kind === 'dns')!;
    let seed = 11;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    // Values a field may hold: the usual ones of every field (the writer skips writing those),
    // others, repeated texts (the writer keeps their bytes), and values of an unexpected type.
    const texts = Array.from({ length: 7 }, (_, i) => `host-${i}.default.svc:8080`);
    const pool: unknown[] = [
      null,
      undefined,
      false,
      true,
      0,
      1,
      200,
      404,
      -0,
      0.5,
      'GET',
      'POST',
      '1.1',
      '1.0',
      'OK',
      'Not Found',
      'udp',
      'tcp',
      'C_INTERNET',
      'A',
      'NOERROR',
      'query',
      '',
      'x"y',
      ...texts,
      [],
      ['a'],
      {},
    ];
    const pick = (): unknown => {
      const v = pool[Math.floor(rnd() * pool.length)];
      // A text equal to a kept one but another string: the writer must not rely on identity.
      return typeof v === 'string' && rnd() < 0.3 ? `${v} `.slice(0, v.length) : v;
    };
    const skip = new Set(['kind', 'uid', 'conn']);
    const many: AppRecordOut[] = [];
    for (let i = 0; i < 4000; i++) {
      for (const base of [http, dns] as AppRecordOut[]) {
        const r: Record<string, unknown> = { ...base };
        for (const k of Object.keys(r)) {
          if (skip.has(k)) continue;
          // Mostly the record's own or a usual value, so that long runs of skipped fields occur.
          const u = rnd();
          if (u < 0.4) continue;
          r[k] = u < 0.7 ? ((base.kind === 'http' ? USUAL_HTTP[k] : USUAL_DNS[k]) ?? null) : pick();
        }
        many.push(r as unknown as AppRecordOut);
      }
    }
    assert.ok((await written(many)).equals(genericBytes(many)));
  });
});

/** The values app-formats writes without a write of their own (or null where it has none). */
const USUAL_HTTP: Record<string, unknown> = {
  method: 'GET',
  version: '1.1',
  request_body_len: 0,
  response_body_len: 0,
  status_code: 200,
  status_msg: 'OK',
  upgraded: false,
};
const USUAL_DNS: Record<string, unknown> = {
  proto: 'udp',
  qclass: 1,
  qclass_name: 'C_INTERNET',
  qtype: 1,
  qtype_name: 'A',
  rcode: 0,
  rcode_name: 'NOERROR',
  AA: false,
  TC: false,
  RD: true,
  RA: true,
  Z: 0,
  rejected: false,
  opcode: 0,
  opcode_name: 'query',
};
