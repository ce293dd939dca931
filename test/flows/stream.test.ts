/**
 * The streaming reader: format sniffing, JSON arrays, line limits, CRLF, and bounded memory over
 * large generated inputs.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { FlowFieldError, parseFlows } from '../../parsers/flows';
import { collect, samplePath, sampleStream, textStream } from './helpers';

/** `n` lines from `make(i)`, produced lazily in batches: the input never exists whole. */
function generated(n: number, make: (i: number) => string, batch = 2000): Readable {
  let i = 0;
  return new Readable({
    read() {
      if (i >= n) {
        this.push(null);
        return;
      }
      let s = '';
      for (const end = Math.min(n, i + batch); i < end; i++) s += `${make(i)}\n`;
      this.push(s);
    },
  });
}

/** A real gc() even without --expose-gc, so that heap samples measure what is retained, not garbage. */
function getGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** Heap retained above `base`, after a full collection. */
function retained(gc: () => void, base: number): number {
  gc();
  return process.memoryUsage().heapUsed - base;
}

describe('flows: streaming reader', () => {
  it('sniffs each format from its first line', async () => {
    const cases: [string, string][] = [
      ['wikipedia.conn.zeek.json', 'zeek-json'],
      ['vpc-default.log', 'aws-vpc'],
      ['vpc-tcp-flags-v3.log', 'aws-vpc'],
      ['hubble-observe.json', 'hubble'],
    ];
    for (const [file, fmt] of cases) assert.equal((await collect(sampleStream(file))).summary.format, fmt, file);
    const zeekTsv = '#separator \\x09\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n1.5\t10.0.0.1\t1\t10.0.0.2\t2\tudp\n';
    assert.equal((await collect(textStream(zeekTsv))).summary.format, 'zeek-tsv');
  });

  it('a named format overrides sniffing; every unrecognisable line is an error, not a crash', async () => {
    const named = await collect(sampleStream('vpc-default.log'), { format: 'hubble' });
    assert.equal(named.records.length, 0);
    assert.equal(named.errors.length, 4);
    assert.match(named.errors[0].message, /^test: line 1: not JSON/);
    const junk = await collect(textStream('\n\nhello world\nmore\n'));
    assert.equal(junk.summary.format, null);
    assert.deepEqual(
      junk.errors.map((e) => e.line),
      [3, 4],
    );
    assert.match(junk.errors[0].reason, /cannot tell the format/);
  });

  it('a first line that cannot be sniffed is reported and the lines after it are still read', async () => {
    const vpc = fs.readFileSync(samplePath('vpc-default.log'), 'utf8');
    const clean = await collect(textStream(vpc));
    const got = await collect(textStream(`garbage at the top\n${vpc}`));
    assert.equal(got.summary.format, 'aws-vpc');
    assert.deepEqual(
      got.errors.map((e) => [e.line, e.reason]),
      [[1, 'cannot tell the format from this line (name one of zeek-tsv, zeek-json, aws-vpc, hubble, ndjson)']],
    );
    assert.ok(clean.records.length > 0);
    assert.deepEqual(got.records, clean.records);
  });

  it('a JSON array of Hubble events equals the same events as NDJSON', async () => {
    const lines = fs.readFileSync(samplePath('hubble-observe.json'), 'utf8').trimEnd().split('\n');
    const ndjson = await collect(textStream(lines.join('\n')));
    const array = await collect(textStream(`  [${lines.join(',\n')}]\n`, 333));
    assert.deepEqual(array.errors, []);
    assert.deepEqual(array.records, ndjson.records);
    assert.equal(array.summary.lines, 20);
    const unclosed = await collect(textStream(`[${lines.slice(0, 3).join(',\n')}`));
    assert.equal(unclosed.errors.length, 1);
    assert.match(unclosed.errors[0].reason, /not closed/);
  });

  it('skips over-long lines without buffering them and keeps the lines around them', async () => {
    const good = fs.readFileSync(samplePath('vpc-default.log'), 'utf8').split('\n')[0];
    const long = `${good} ${'x'.repeat(200_000)}`;
    const text = `${[good, long, good.replace('20641', '20642'), long, long + long, good.replace('20641', '20643')].join('\r\n')}\r\n`;
    const { records, errors } = await collect(textStream(text, 4096), { maxLineBytes: 1024 });
    assert.deepEqual(
      records.map((r) => r.orig_p),
      [20641, 20642, 20643],
    );
    assert.deepEqual(
      errors.map((e) => e.line),
      [2, 4, 5],
    );
    assert.equal(errors[0].message, 'test: line 2: longer than the 1024-byte line limit; skipped');
  });

  it('an over-long JSON array element is skipped and reported at its first line', async () => {
    const el = (p: number): string => `{"ts":1.5,"id.orig_h":"10.0.0.1","id.orig_p":${p},"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp"}`;
    const huge = `{"ts":1.5,"pad":"${'y'.repeat(10_000)}"}`;
    const { records, errors } = await collect(textStream(`[\n${el(1)},\n${huge},\n${el(2)}\n]`, 100), { maxLineBytes: 2048 });
    assert.deepEqual(
      records.map((r) => r.orig_p),
      [1, 2],
    );
    assert.deepEqual(
      errors.map((e) => [e.line, e.reason]),
      [[3, 'longer than the 2048-byte line limit; skipped']],
    );
  });

  it('Zeek JSON with ISO 8601 timestamps (JSON::TS_ISO8601)', async () => {
    const line =
      '{"ts":"2011-03-18T19:06:07.096535Z","uid":"CHhAvVGS1DHFjwGM9","id.orig_h":"141.142.220.202","id.orig_p":5353,"id.resp_h":"224.0.0.251","id.resp_p":5353,"proto":"udp","service":"dns","conn_state":"S0"}';
    const { records, errors } = await collect(textStream(line));
    assert.deepEqual(errors, []);
    assert.equal(records[0].ts, 1300475167.096535);
  });

  it('a rejected line captures no stack: a body of bad lines costs the parse, not stack walks (the soak found 20 s of CPU for 8 MiB)', async () => {
    const before = Error.stackTraceLimit;
    const e = new FlowFieldError('ts', 'missing');
    assert.equal(e.message, 'ts: missing');
    assert.ok(e instanceof Error);
    assert.equal(e.stack?.includes('\n    at '), false, `stack frames were captured: ${e.stack}`);
    assert.equal(Error.stackTraceLimit, before, 'the stack trace limit is put back');
    assert.ok(new Error('x').stack?.includes('\n    at '), 'other errors keep their stacks');
    // Every line still reported with its number and reason.
    const { records, errors, summary } = await collect(
      generated(20_000, () => '{"ts":1}'),
      { format: 'ndjson' },
    );
    assert.equal(records.length, 0);
    assert.equal(summary.errors, 20_000);
    assert.equal(errors[19_999].line, 20_000);
    assert.match(errors[0].reason, /./);
  });

  it('rejects the promise when the input stream itself fails', async () => {
    const input = new Readable({
      read() {
        this.destroy(new Error('socket hang up'));
      },
    });
    await assert.rejects(collect(input), /socket hang up/);
  });

  it('streams 500k VPC lines with bounded memory', async function () {
    this.timeout(120_000);
    const N = 500_000;
    const gc = getGc();
    const base = retained(gc, 0);
    let peak = 0;
    let n = 0;
    let last = '';
    const t0 = process.hrtime.bigint();
    const summary = await parseFlows(
      generated(
        N,
        (i) =>
          `2 123456789010 eni-1235b8ca123456789 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255} 172.31.16.21 ${1024 + (i % 60000)} 443 6 ${1 + (i % 50)} ${60 + i} ${1418530010 + (i >> 10)} ${1418530070 + (i >> 10)} ACCEPT OK`,
      ),
      { source: 'gen' },
      (r) => {
        if (++n % 50_000 === 0) peak = Math.max(peak, retained(gc, base));
        last = r.uid;
      },
      (e) => assert.fail(e.message),
    );
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    assert.equal(summary.records, N);
    assert.equal(summary.lines, N);
    assert.match(last, /^C/);
    console.log(`      ${N} VPC lines in ${secs.toFixed(2)} s (${Math.round(N / secs)} records/s), heap retained peak ${(peak / 1048576).toFixed(1)} MiB`);
    // The input is ~60 MB and the records ~250 MB as objects: neither may accumulate.
    assert.ok(peak < 16 * 1048576, `heap grew by ${peak} bytes`);
  });

  it('folds 300k Hubble events (100k connections) with bounded memory', async function () {
    this.timeout(120_000);
    const conns = 100_000;
    const t0 = 1767225600;
    const ev = (i: number): string => {
      const c = Math.floor(i / 3);
      const k = i % 3;
      const t = new Date((t0 + c * 0.01 + k * 0.001) * 1000).toISOString();
      const [s, sp, d, dp] =
        k === 1
          ? [`10.1.${(c >> 8) & 255}.${c & 255}`, 8080, '10.0.0.1', 10000 + (c % 50000)]
          : ['10.0.0.1', 10000 + (c % 50000), `10.1.${(c >> 8) & 255}.${c & 255}`, 8080];
      const flags = k === 0 ? '"SYN":true' : k === 1 ? '"SYN":true,"ACK":true' : '"RST":true';
      return `{"flow":{"time":"${t}","verdict":"FORWARDED","IP":{"source":"${s}","destination":"${d}","ipVersion":"IPv4"},"l4":{"TCP":{"source_port":${sp},"destination_port":${dp},"flags":{${flags}}}},"Type":"L3_L4","is_reply":${k === 1}}}`;
    };
    const gc = getGc();
    const base = retained(gc, 0);
    let peak = 0;
    let n = 0;
    const states = new Map<string, number>();
    const start = process.hrtime.bigint();
    const summary = await parseFlows(
      generated(conns * 3, ev),
      { source: 'gen' },
      (r) => {
        states.set(r.conn_state, (states.get(r.conn_state) ?? 0) + 1);
        if (++n % 20_000 === 0) peak = Math.max(peak, retained(gc, base));
      },
      (e) => assert.fail(e.message),
    );
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    assert.equal(summary.events, conns * 3);
    assert.equal(summary.records, conns);
    assert.deepEqual([...states], [['RSTO', conns]]);
    console.log(
      `      ${conns * 3} Hubble events in ${secs.toFixed(2)} s (${Math.round((conns * 3) / secs)} events/s), heap retained peak ${(peak / 1048576).toFixed(1)} MiB`,
    );
    // Only the connections of the last few seconds of event time (close delay) stay live.
    assert.ok(peak < 16 * 1048576, `heap grew by ${peak} bytes`);
  });
});
