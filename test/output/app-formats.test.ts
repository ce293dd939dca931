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
import { appNdjsonLine, appNdjsonLineGeneric } from '../../src/output/app-formats';
import { corpusAvailable, corpusFiles } from '../util/corpus';

const SAMPLES = path.resolve(__dirname, '..', '..', '..', 'samples');

async function appRecords(): Promise<AppRecordOut[]> {
  const files = ['pod-traffic.pcap', 'vxlan-overlay.pcap', 'failed-connections.pcap'].map((f) => path.join(SAMPLES, f));
  if (corpusAvailable()) files.push(...corpusFiles(/\.pcap$/).filter((f) => /[/\\](http|dns)[/\\]|dns/.test(f)));
  const out: AppRecordOut[] = [];
  for (const f of files) await analyzeFile(f, () => {}, { tracker: { payload: analyzerFactory((r) => out.push(r)) } });
  return out;
}

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
});
