/**
 * Helpers for the flow-log tests: run parseFlows over a string, a file or a generated stream
 * and collect what comes out; find samples/flows from compiled test locations.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type { ConnRecord } from '../../src/conntrack/record';
import { parseFlows, FlowLineError, FlowParseOptions, FlowParseSummary } from '../../parsers/flows';

export interface Collected {
  records: ConnRecord[];
  errors: FlowLineError[];
  summary: FlowParseSummary;
}

export async function collect(input: Readable, opts: Partial<FlowParseOptions> = {}): Promise<Collected> {
  const records: ConnRecord[] = [];
  const errors: FlowLineError[] = [];
  const summary = await parseFlows(input, { source: 'test', ...opts }, (r) => records.push(r), (e) => errors.push(e));
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
