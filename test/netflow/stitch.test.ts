/**
 * Stitching one-way flow records (parsers/netflow/stitch.ts) on real exporters' datagrams from
 * the corpus (softflowd's IPFIX, Mikrotik's NetFlow v5, and every other exporter): the pairs,
 * their originators, both sides' counters, nothing lost or counted twice, and memory bounds.
 * The end-to-end check against Zeek's conn.log is in softflowd.test.ts.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NetflowRecords, type NetflowRecordsOptions } from '../../parsers/netflow/records';
import { FlowStitcher } from '../../parsers/netflow/stitch';
import type { ConnRecord } from '../../parsers/record/conn';
import { corpusAvailable, corpusPath, requireCorpus } from '../util/corpus';

const DIR = 'flows/netflow/tests';

function datagramsOf(slug: string): Buffer[] {
  const t = JSON.parse(fs.readFileSync(corpusPath(`${DIR}/${slug}.json`), 'utf8')) as { datagrams: string[] };
  return t.datagrams.map((d) => fs.readFileSync(path.join(corpusPath(DIR), d)));
}

function run(slug: string, o: NetflowRecordsOptions = {}): { out: ConnRecord[]; nf: NetflowRecords } {
  const out: ConnRecord[] = [];
  const nf = new NetflowRecords((r) => out.push(r), o);
  datagramsOf(slug).forEach((b, i) => {
    nf.decode(b, '192.0.2.10', 1_000_000 + i * 1000);
  });
  nf.flush();
  return { out, nf };
}

const line = (r: ConnRecord): string =>
  `${r.orig_h}:${r.orig_p} > ${r.resp_h}:${r.resp_p} ${r.orig_pkts}/${r.resp_pkts} pkts ${r.orig_ip_bytes}/${r.resp_ip_bytes} B ${r.conn_state} ${r.history}`;

describe('netflow stitching of one-way records', () => {
  it('softflowd IPFIX: six one-way records are three connections, each opened by its client', function () {
    requireCorpus(this);
    const { out, nf } = run('IPFIX');
    assert.deepEqual(nf.stitchStats, { records: 6, paired: 3, oneWay: 0, evicted: 0 });
    assert.deepEqual(out.map(line), [
      // Counts are the two records' (tshark: 5 pkts / 260 B and 6 pkts / 1000 B, ...).
      '192.168.253.1:60560 > 192.168.253.128:22 5/6 pkts 260/1000 B OTH Aad',
      '192.168.253.132:35262 > 192.168.253.2:53 2/2 pkts 148/601 B SF Dd',
      '192.168.253.132:49935 > 54.214.9.161:443 13/14 pkts 2608/5946 B S1 ShADd',
    ]);
    assert.ok(out.every((r) => r.observed === undefined));
    // The connection starts with its first record and lasts until the last one ends.
    assert.equal(out[0].ts, 1431516013.506);
    assert.equal(out[0].duration, 12.726);
  });

  it('Mikrotik NetFlow v5: servers (80, 443, 993) are responders; unpaired records are marked one-way', function () {
    requireCorpus(this);
    const { out, nf } = run('Netflow5-mikrotik');
    assert.equal(nf.stitchStats?.paired, 9);
    const paired = out.filter((r) => r.observed === undefined);
    assert.equal(paired.length, 9);
    for (const r of paired) assert.ok(r.resp_pkts > 0 && r.orig_pkts > 0, line(r));
    for (const r of paired.filter((x) => [80, 443, 993].includes(x.resp_p))) assert.ok(r.orig_p >= 1024, line(r));
    assert.ok(paired.some((r) => line(r) === '192.168.0.1:51826 > 10.0.8.1:80 10/13 pkts 1112/11442 B S1 ShDd'));
    const alone = out.filter((r) => r.observed === 'one-way');
    assert.equal(alone.length, 12);
    for (const r of alone) assert.equal(r.resp_pkts + r.resp_ip_bytes, 0, line(r));
  });

  it('every exporter: each record is in exactly one output record, its packets and bytes kept', function () {
    requireCorpus(this);
    const slugs = fs
      .readdirSync(corpusPath(DIR))
      .filter((f) => f.endsWith('.json') && !f.includes('.pcap'))
      .map((f) => f.slice(0, -5));
    let paired = 0;
    for (const slug of slugs) {
      const alone = run(slug, { stitch: false }).out;
      const { out, nf } = run(slug);
      const st = nf.stitchStats;
      assert.ok(st);
      const sum = (rs: ConnRecord[]): number[] => [
        rs.reduce((a, r) => a + r.orig_pkts + r.resp_pkts, 0),
        rs.reduce((a, r) => a + r.orig_ip_bytes + r.resp_ip_bytes, 0),
      ];
      assert.deepEqual(sum(out), sum(alone), `${slug}: packets and bytes`);
      assert.equal(out.length + st.paired, alone.length, `${slug}: records`);
      assert.equal(out.filter((r) => r.observed === undefined).length, st.paired + alone.filter((r) => r.observed === undefined).length, slug);
      paired += st.paired;
    }
    // Measured on the corpus: 71 pairs out of 263 one-way records.
    assert.equal(paired, 71);
  });

  it('bounded: a cap on waiting records and a hold time emit the oldest alone, never drop them', function () {
    if (!corpusAvailable()) this.skip();
    const recs = run('Netflow-9-Cisco-1941-K9-release-15-1', { stitch: false }).out.map((r) => ({ ...r, observed: undefined }));
    const out: ConnRecord[] = [];
    const s = new FlowStitcher((r) => out.push(r), { maxPending: 2 });
    let maxSize = 0;
    for (const r of recs) {
      s.add({ ...r }, 'x', 0);
      maxSize = Math.max(maxSize, s.size);
    }
    s.flush();
    assert.equal(maxSize, 2);
    assert.ok(s.stats.evicted > 0);
    assert.equal(out.length + s.stats.paired, recs.length);

    const held: ConnRecord[] = [];
    const h = new FlowStitcher((r) => held.push(r), { holdSec: 10 });
    h.add({ ...recs[0] }, 'x', 100);
    h.expire(110);
    assert.equal(held.length, 0, 'still within the hold');
    h.expire(110.5);
    assert.equal(held.length, 1);
    assert.equal(held[0].observed, 'one-way');
    assert.equal(h.size, 0);
  });
});
