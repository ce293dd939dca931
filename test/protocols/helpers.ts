/** Shared test helpers for the protocol analyzers. */
import type { AnalyzerOptions, AppTransport, StreamAnalyzer } from '../../parsers/protocols/analyzer';
import type { AnyAppRecord } from '../../parsers/record/app';

export interface Collected {
  records: AnyAppRecord[];
  opts: AnalyzerOptions;
}

export function collector(transport: AppTransport, maxBufferBytes?: number): Collected {
  const records: AnyAppRecord[] = [];
  return { records, opts: { transport, sink: (r) => records.push(r), maxBufferBytes } };
}

export { rng } from '../util/rng';

/** A copy of `b` with a few random byte flips, truncations or insertions. */
export function mutate(b: Buffer, r: () => number): Buffer {
  let out = Buffer.from(b);
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const k = r();
    const at = Math.floor(r() * Math.max(1, out.length));
    if (k < 0.6 && out.length > 0) out[at] = Math.floor(r() * 256);
    else if (k < 0.75) out = out.subarray(0, at);
    else if (k < 0.9) out = Buffer.concat([out.subarray(0, at), Buffer.from([0xc0, Math.floor(r() * 256)]), out.subarray(at)]);
    else out = Buffer.concat([out.subarray(0, at), Buffer.from([0xff, 0xff, 0xff, 0xff]), out.subarray(at)]);
  }
  return out;
}

/** Feeds one direction's bytes to `a` in pieces cut at the given offsets. */
export function feedSplit(a: StreamAnalyzer, isOrig: boolean, data: Buffer, cuts: number[], ts: number): void {
  let prev = 0;
  for (const c of [...cuts, data.length]) {
    if (c > prev) a.data(isOrig, data, prev, c - prev, ts);
    prev = Math.max(prev, c);
  }
}

/** Records without functions/undefined, comparable with deepStrictEqual. */
export function plain<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}
