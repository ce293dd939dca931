/**
 * The committed sample captures, analysed: every connection the generator put in a capture
 * (samples/<name>.conn.json, written from the generator's own model of the traffic) comes out
 * of `analyze` with the same 5-tuple, state, history, packets and bytes, and nothing else does.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzeFile } from '../../src/analyze/pipeline';
import type { ConnRecord } from '../../parsers/record/conn';
import type { ConnExpect } from '../../samples/lib/session';

const SAMPLES = path.resolve(__dirname, '..', '..', '..', 'samples');

type Expected = ConnExpect;

const FIELDS = ['conn_state', 'history', 'orig_pkts', 'resp_pkts', 'orig_bytes', 'resp_bytes', 'orig_ip_bytes', 'resp_ip_bytes'] as const;

const key = (r: { orig_h: string; orig_p: number; resp_h: string; resp_p: number; proto: string }): string =>
  `${r.proto} ${r.orig_h}:${r.orig_p} -> ${r.resp_h}:${r.resp_p}`;

describe('sample captures analysed against the generator’s expectations', () => {
  for (const name of ['pod-traffic', 'vxlan-overlay', 'scan', 'failed-connections']) {
    it(`${name}.pcap`, async () => {
      const expected = JSON.parse(fs.readFileSync(path.join(SAMPLES, `${name}.conn.json`), 'utf8')) as Expected[];
      const ours: ConnRecord[] = [];
      const res = await analyzeFile(path.join(SAMPLES, `${name}.pcap`), (r) => ours.push(r));
      assert.equal(res.error, null);
      assert.equal(res.malformed, 0);
      assert.equal(ours.length, expected.length, 'connection count');
      const byKey = new Map(ours.map((r) => [key(r), r]));
      for (const e of expected) {
        const r = byKey.get(key(e));
        assert.ok(r, `missing ${key(e)} (${e.label})`);
        for (const f of FIELDS) assert.equal(r[f], e[f], `${key(e)} (${e.label}): ${f}`);
        assert.ok(Math.abs(r.ts - e.ts) < 1e-6, `${key(e)}: ts`);
        assert.equal(r.tunnel_type, e.tunnel_type ?? null, `${key(e)}: tunnel_type`);
        assert.equal(r.tunnel_id, e.tunnel_id ?? null, `${key(e)}: tunnel_id`);
      }
      if (name === 'vxlan-overlay') {
        // Every inner connection names the outer VXLAN connections that carried it, and those say vxlan.
        const outer = new Map(ours.filter((r) => r.tunnel_type === null).map((r) => [r.uid, r]));
        for (const inner of ours.filter((r) => r.tunnel_type === 'vxlan')) {
          assert.ok(inner.tunnel_parents.length >= 1);
          for (const p of inner.tunnel_parents) assert.deepEqual(outer.get(p)?.service, ['vxlan']);
        }
      }
    });
  }
});
