/**
 * Conformance of `analyze` with Zeek: every capture in ../shared/corpus that has a Zeek
 * conn.log baseline is analysed and compared field by field. Prints the agreement per field;
 * fails below 99% of baseline connections matched on the 5-tuple with conn_state, history,
 * packets and bytes equal.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory } from '../../src/analyze/app';
import type { ConnRecord } from '../../parsers/record/conn';
import { CORPUS_DIR, corpusAvailable, corpusFiles, requireCorpus } from '../util/corpus';
import { readZeekLog, type ZeekRow } from './zeek-log';

interface Baseline {
  log: string;
  capture: string;
}

function findBaselines(): Baseline[] {
  return corpusFiles(/\.conn\.log(\.cut)?$/).flatMap((log) => {
    const m = /^(.*?\.(pcap|pcapng))\./.exec(path.basename(log));
    return m ? [{ log, capture: path.join(path.dirname(log), m[1]) }] : [];
  });
}

/** Fields compared, with how our record gives each as Zeek would print it. */
const FIELDS: Record<string, (r: ConnRecord) => string> = {
  proto: (r) => r.proto,
  conn_state: (r) => r.conn_state,
  history: (r) => r.history || '-',
  orig_pkts: (r) => String(r.orig_pkts),
  resp_pkts: (r) => String(r.resp_pkts),
  orig_bytes: (r) => (r.duration > 0 ? String(r.orig_bytes) : '-'),
  resp_bytes: (r) => (r.duration > 0 ? String(r.resp_bytes) : '-'),
  orig_ip_bytes: (r) => String(r.orig_ip_bytes),
  resp_ip_bytes: (r) => String(r.resp_ip_bytes),
  duration: (r) => (r.duration > 0 ? r.duration.toFixed(6) : '-'),
  missed_bytes: (r) => String(r.missed_bytes),
  local_orig: (r) => (r.local_orig ? 'T' : 'F'),
  local_resp: (r) => (r.local_resp ? 'T' : 'F'),
  ip_proto: (r) => String(r.ip_proto),
  vlan: (r) => (r.vlan === null ? '-' : String(r.vlan)),
  inner_vlan: (r) => (r.inner_vlan === null ? '-' : String(r.inner_vlan)),
  community_id: (r) => r.community_id,
  tunnel_parents: (r) => String(r.tunnel_parents.length),
  service: (r) => (r.service.length ? r.service.join(',') : '-'),
};

/** The fields that decide whether a connection matches (the issue's gate). */
const GATE = ['conn_state', 'history', 'orig_pkts', 'resp_pkts', 'orig_bytes', 'resp_bytes'];

function baselineValue(row: ZeekRow, field: string): string | undefined {
  const v = row[field];
  if (v === undefined) return undefined;
  if (field === 'tunnel_parents') return v === '-' || v === '(empty)' ? '0' : String(v.split(',').length);
  return v;
}

function equal(field: string, ours: string, theirs: string): boolean {
  if (field === 'duration' && ours !== '-' && theirs !== '-') return Math.abs(Number(ours) - Number(theirs)) <= 1e-6 + 1e-9;
  return ours === theirs;
}

function tupleKey(h1: string, p1: string | number, h2: string, p2: string | number, proto: string): string {
  return `${h1}|${p1}|${h2}|${p2}|${proto}`;
}

interface Tally {
  compared: Record<string, number>;
  agreed: Record<string, number>;
  baselineConns: number;
  matched: number;
  failures: string[];
}

function compare(rows: ZeekRow[], ours: ConnRecord[], name: string, tally: Tally): void {
  const finals = ours.filter((r) => !r.interim);
  const pool = new Map<string, ConnRecord[]>();
  const hasTuple = rows.length > 0 && rows[0]['id.orig_h'] !== undefined;
  for (const r of finals) {
    const k = hasTuple ? tupleKey(r.orig_h, r.orig_p, r.resp_h, r.resp_p, r.proto) : '*';
    const l = pool.get(k) ?? [];
    l.push(r);
    pool.set(k, l);
  }
  for (const row of rows) {
    tally.baselineConns++;
    const k = hasTuple ? tupleKey(row['id.orig_h'], row['id.orig_p'], row['id.resp_h'], row['id.resp_p'], row.proto) : '*';
    const candidates = pool.get(k) ?? [];
    // Several connections can share a 5-tuple (reuse); pair each baseline row with the closest one.
    let best = -1;
    let bestScore = -1;
    candidates.forEach((c, i) => {
      let s = 0;
      for (const f of Object.keys(FIELDS)) {
        const b = baselineValue(row, f);
        if (b !== undefined && equal(f, FIELDS[f](c), b)) s++;
      }
      if (s > bestScore) {
        bestScore = s;
        best = i;
      }
    });
    if (best < 0) {
      tally.failures.push(`${name}: no connection for ${k}`);
      continue;
    }
    const c = candidates.splice(best, 1)[0];
    let gateOk = true;
    const diffs: string[] = [];
    for (const f of Object.keys(FIELDS)) {
      const b = baselineValue(row, f);
      if (b === undefined) continue;
      const o = FIELDS[f](c);
      const ok = equal(f, o, b);
      tally.compared[f] = (tally.compared[f] ?? 0) + 1;
      if (ok) tally.agreed[f] = (tally.agreed[f] ?? 0) + 1;
      else diffs.push(`${f} ours=${o} zeek=${b}`);
      if (!ok && GATE.includes(f)) gateOk = false;
    }
    if (gateOk) tally.matched++;
    else tally.failures.push(`${name}: ${k}: ${diffs.join('; ')}`);
  }
}

describe('conformance with Zeek conn.log baselines (../shared/corpus)', () => {
  const tally: Tally = { compared: {}, agreed: {}, baselineConns: 0, matched: 0, failures: [] };
  const baselines = corpusAvailable() ? findBaselines() : [];

  before(function () {
    requireCorpus(this);
  });

  for (const b of baselines) {
    it(`analyses ${path.relative(CORPUS_DIR, b.capture)} against ${path.basename(b.log)}`, async () => {
      const rows = readZeekLog(b.log);
      const ours: ConnRecord[] = [];
      // With the protocol analyzers on, as `analyze` runs by default, so that `service` is compared too.
      const res = await analyzeFile(b.capture, (r) => ours.push(r), { tracker: { payload: analyzerFactory(() => undefined) } });
      assert.equal(res.error, null, `capture error: ${res.error?.message}`);
      compare(rows, ours, path.relative(CORPUS_DIR, b.log), tally);
    });
  }

  after(() => {
    if (tally.baselineConns === 0) return;
    const lines = Object.keys(FIELDS)
      .filter((f) => tally.compared[f])
      .map(
        (f) =>
          `      ${f.padEnd(14)} ${(tally.agreed[f] ?? 0).toString().padStart(4)}/${tally.compared[f]}  ${(((tally.agreed[f] ?? 0) / tally.compared[f]) * 100).toFixed(1)}%`,
      );
    const pct = (tally.matched / tally.baselineConns) * 100;
    console.log(`\n    Zeek conn.log agreement per field (${tally.baselineConns} baseline connections):\n${lines.join('\n')}`);
    console.log(`    matched on 5-tuple + ${GATE.join(', ')}: ${tally.matched}/${tally.baselineConns} = ${pct.toFixed(1)}%`);
    if (tally.failures.length)
      console.log(
        `    mismatches:\n${tally.failures
          .slice(0, 40)
          .map((f) => `      ${f}`)
          .join('\n')}`,
      );
  });

  it('matches at least 99% of baseline connections on conn_state, history, packets and bytes', function () {
    requireCorpus(this);
    assert.ok(tally.baselineConns > 100, `only ${tally.baselineConns} baseline connections found`);
    const pct = tally.matched / tally.baselineConns;
    assert.ok(pct >= 0.99, `${(pct * 100).toFixed(1)}% matched (< 99%); first mismatches:\n${tally.failures.slice(0, 20).join('\n')}`);
  });
});
