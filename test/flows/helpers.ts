/**
 * Helpers for the flow-log tests: run parseFlows over a string, a file or a generated stream
 * and collect what comes out; find samples/flows from compiled test locations.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type { ConnRecord } from '../../parsers/record/conn';
import { parseFlows, type FlowLineError, type FlowParseOptions, type FlowParseSummary } from '../../parsers/flows';

export interface Collected {
  records: ConnRecord[];
  errors: FlowLineError[];
  summary: FlowParseSummary;
}

export async function collect(input: Readable, opts: Partial<FlowParseOptions> = {}): Promise<Collected> {
  const records: ConnRecord[] = [];
  const errors: FlowLineError[] = [];
  const summary = await parseFlows(
    input,
    { source: 'test', ...opts },
    (r) => records.push(r),
    (e) => errors.push(e),
  );
  return { records, errors, summary };
}

/** The text as a stream of `chunk`-byte pieces (to cross chunk boundaries everywhere). */
export function textStream(text: string, chunk = 65536): Readable {
  const buf = Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk));
  return Readable.from(parts);
}

/** The repository root: the first ancestor holding samples/flows (works from dist/ and .build/). */
export function repoRoot(): string {
  let d = __dirname;
  for (let i = 0; i < 8; i++) {
    if (fs.existsSync(path.join(d, 'samples', 'flows')) && fs.existsSync(path.join(d, 'package.json'))) return d;
    d = path.dirname(d);
  }
  throw new Error('repository root with samples/flows not found');
}

export function samplePath(name: string): string {
  return path.join(repoRoot(), 'samples', 'flows', name);
}

export function sampleStream(name: string): Readable {
  return fs.createReadStream(samplePath(name), { highWaterMark: 4096 });
}

/** First-packet time and Community ID of each 5-tuple (either direction), from the tshark oracle. */
export function tsharkFirst(tsv: string): Map<string, { t: string; cid: string }> {
  const lines = fs.readFileSync(tsv, 'utf8').split('\n');
  const cols = lines[0].split('\t');
  const ix = (n: string): number => cols.indexOf(n);
  const m = new Map<string, { t: string; cid: string }>();
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const c = line.split('\t');
    const src = c[ix('ip.src')] || c[ix('ipv6.src')];
    const dst = c[ix('ip.dst')] || c[ix('ipv6.dst')];
    const sp = c[ix('tcp.srcport')] || c[ix('udp.srcport')];
    const dp = c[ix('tcp.dstport')] || c[ix('udp.dstport')];
    const v = { t: Number(c[ix('frame.time_epoch')]).toFixed(6), cid: c[ix('communityid')] };
    for (const k of [`${src}|${sp}|${dst}|${dp}`, `${dst}|${dp}|${src}|${sp}`]) if (!m.has(k)) m.set(k, v);
  }
  return m;
}

/** The baseline with btest's masked timestamps replaced by each connection's first-packet time. */
export function unmasked(log: string, first: Map<string, { t: string }>): string {
  return fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .map((l) => {
      if (!l.startsWith('XXXXXXXXXX.XXXXXX\t')) return l;
      const c = l.split('\t');
      return [first.get(`${c[2]}|${c[3]}|${c[4]}|${c[5]}`)!.t, ...c.slice(1)].join('\t');
    })
    .join('\n');
}
