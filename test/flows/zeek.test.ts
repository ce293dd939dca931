/**
 * Zeek conn.log ingestion against the corpus' Zeek baselines (btest conn.logs, TSV) and the
 * Zeek JSON sample converted from one of them (samples/flows/make-zeek-json.py).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { ConnRecord } from '../../parsers/record/conn';
import { readZeekLog } from '../conformance/zeek-log';
import { corpusPath, requireCorpus } from '../util/corpus';
import { collect, sampleStream, textStream, tsharkFirst, unmasked } from './helpers';

const WIKI = 'zeek/wikipedia.pcap.zeek.opt.basic.conn.log';

function expectRow(r: ConnRecord, row: Record<string, string>): void {
  const n = (v: string): number => (v === '-' ? 0 : Number(v));
  assert.equal(r.uid, row.uid);
  assert.equal(r.orig_h, row['id.orig_h']);
  assert.equal(r.orig_p, Number(row['id.orig_p']));
  assert.equal(r.resp_h, row['id.resp_h']);
  assert.equal(r.resp_p, Number(row['id.resp_p']));
  assert.equal(r.proto, row.proto);
  assert.deepEqual(r.service, row.service === '-' ? [] : row.service.split(','));
  assert.equal(r.duration, n(row.duration));
  assert.equal(r.orig_bytes, n(row.orig_bytes));
  assert.equal(r.resp_bytes, n(row.resp_bytes));
  assert.equal(r.conn_state, row.conn_state);
  assert.equal(r.local_orig, row.local_orig === 'T');
  assert.equal(r.local_resp, row.local_resp === 'T');
  assert.equal(r.missed_bytes, n(row.missed_bytes));
  assert.equal(r.history, row.history === '-' ? '' : row.history);
  assert.equal(r.orig_pkts, n(row.orig_pkts));
  assert.equal(r.orig_ip_bytes, n(row.orig_ip_bytes));
  assert.equal(r.resp_pkts, n(row.resp_pkts));
  assert.equal(r.resp_ip_bytes, n(row.resp_ip_bytes));
  assert.deepEqual(r.tunnel_parents, row.tunnel_parents === '-' ? [] : row.tunnel_parents.split(','));
  assert.equal(r.ip_proto, Number(row.ip_proto));
}

describe('flows: Zeek conn.log', () => {
  it('rejects every row of a btest baseline as is (masked ts), with its line number', async function () {
    requireCorpus(this);
    const { records, errors, summary } = await collect(fs.createReadStream(corpusPath(WIKI)));
    assert.equal(summary.format, 'zeek-tsv');
    assert.equal(records.length, 0);
    assert.equal(errors.length, 34);
    // Line 1 is btest's banner, 2-9 the Zeek headers: rows start at line 10.
    assert.deepEqual(
      errors.map((e) => e.line),
      Array.from({ length: 34 }, (_, i) => 10 + i),
    );
    assert.equal(errors[0].field, 'ts');
    assert.equal(errors[0].message, 'test: line 10: ts: "XXXXXXXXXX.XXXXXX" is not a time in seconds');
  });

  it('TSV rows become records with the same values (wikipedia.pcap baseline, ts restored from tshark)', async function () {
    requireCorpus(this);
    const first = tsharkFirst(corpusPath('zeek/wikipedia.pcap.tshark.tsv'));
    const rows = readZeekLog(corpusPath(WIKI));
    const { records, errors, summary } = await collect(textStream(unmasked(corpusPath(WIKI), first), 977));
    assert.deepEqual(errors, []);
    assert.equal(records.length, 34);
    assert.equal(summary.records, 34);
    assert.equal(summary.lines, 44);
    for (let i = 0; i < rows.length; i++) {
      expectRow(records[i], rows[i]);
      const oracle = first.get(`${rows[i]['id.orig_h']}|${rows[i]['id.orig_p']}|${rows[i]['id.resp_h']}|${rows[i]['id.resp_p']}`)!;
      assert.equal(records[i].ts.toFixed(6), oracle.t);
      // Computed (the log has no community_id column); tshark's per-packet value is the oracle.
      assert.equal(records[i].community_id, oracle.cid, `row ${i}`);
    }
    const r = records.find((x) => x.uid === 'CUM0KZ3MLUfNB0cl11')!;
    assert.equal(r.history, 'ShADad');
    assert.equal(r.conn_state, 'S1');
    assert.equal(r.orig_bytes, 525);
    assert.equal(r.duration, 0.119905);
  });

  it('Zeek JSON lines (converted from the same baseline) give the same records as the TSV', async function () {
    requireCorpus(this);
    const first = tsharkFirst(corpusPath('zeek/wikipedia.pcap.tshark.tsv'));
    const tsv = await collect(textStream(unmasked(corpusPath(WIKI), first)));
    const json = await collect(sampleStream('wikipedia.conn.zeek.json'));
    assert.equal(json.summary.format, 'zeek-json');
    assert.deepEqual(json.errors, []);
    assert.equal(json.records.length, 34);
    assert.deepEqual(json.records, tsv.records);
  });

  it('reads set columns, vlan columns, IPv6 and the ICMP-in-VXLAN baseline', async function () {
    requireCorpus(this);
    const fix = (f: string): Readable => textStream(fs.readFileSync(corpusPath(f), 'utf8').replace(/^XXXXXXXXXX\.XXXXXX\t/gm, '1300475167.000000\t'));
    const vx = await collect(fix('zeek/tunnels/vxlan.pcap.zeek.core.tunnels.vxlan.conn.log'));
    assert.deepEqual(vx.errors, []);
    assert.equal(vx.records.length, 5);
    const icmp = vx.records[0];
    assert.deepEqual(icmp.tunnel_parents, ['CUM0KZ3MLUfNB0cl11', 'C4J4Th3PJpwUYZZ6gc']);
    assert.equal(icmp.proto, 'icmp');
    assert.equal(icmp.ip_proto, 1);
    assert.equal(icmp.orig_p, 8);
    assert.equal(icmp.history, 'X');
    assert.deepEqual(vx.records[1].service, ['vxlan']);

    const q = await collect(fix('zeek/q-in-q.pcap.zeek.scripts.policy.protocols.conn.vlan-logging.conn.log'));
    assert.deepEqual(q.errors, []);
    assert.ok(q.records.length > 0);
    assert.equal(q.records[0].vlan, 13);
    assert.equal(q.records[0].inner_vlan, 10);

    const ftp = await collect(fix('zeek/ftp/ipv6.pcap.zeek.scripts.base.protocols.ftp.ftp-ipv6.conn.log'));
    assert.deepEqual(ftp.errors, []);
    const rows = readZeekLog(corpusPath('zeek/ftp/ipv6.pcap.zeek.scripts.base.protocols.ftp.ftp-ipv6.conn.log'));
    assert.equal(ftp.records.length, rows.length);
    for (const [i, r] of ftp.records.entries()) expectRow(r, rows[i]);
  });

  it('honours #separator, #set_separator, #empty_field and #unset_field', async () => {
    const text = [
      '#separator \\x7c',
      '#set_separator|;',
      '#empty_field|EMPTY',
      '#unset_field|NONE',
      '#fields|ts|uid|id.orig_h|id.orig_p|id.resp_h|id.resp_p|proto|service|duration|conn_state|history|tunnel_parents|community_id',
      '1300475167.096535|Cabc|10.0.0.1|1234|10.0.0.2|80|tcp|http|NONE|S0|S|Ca;Cb|NONE',
      '1300475168.000001|NONE|10.0.0.1|1235|10.0.0.2|80|tcp|EMPTY|1.500000|SF|ShAdDaFf|EMPTY|1:abc=',
      '',
    ].join('\n');
    const { records, errors } = await collect(textStream(text));
    assert.deepEqual(errors, []);
    assert.equal(records.length, 2);
    assert.deepEqual(records[0].tunnel_parents, ['Ca', 'Cb']);
    assert.deepEqual(records[0].service, ['http']);
    assert.equal(records[0].duration, 0);
    assert.equal(records[0].local_orig, true);
    assert.deepEqual(records[1].service, []);
    assert.deepEqual(records[1].tunnel_parents, []);
    assert.match(records[1].uid, /^C[0-9A-Za-z]+$/);
    assert.equal(records[1].community_id, '1:abc=');
    assert.equal(records[1].duration, 1.5);
  });

  it('logs written with another scope_sep (id_orig_h) or a field-name map (src, dst_port) read like the default names', async function () {
    requireCorpus(this);
    // btest masks ts: one fixed time for every line, as the other baselines here.
    const fix = (f: string): Readable => textStream(fs.readFileSync(corpusPath(f), 'utf8').replace(/^XXXXXXXXXX\.XXXXXX\t/gm, '1300475167.000000\t'));
    const out: ConnRecord[][] = [];
    for (const f of ['flows/zeek/logging.field-name-map.conn.log', 'flows/zeek/logging.scope_sep.conn.log']) {
      const want = JSON.parse(fs.readFileSync(corpusPath(`${f}.expected.json`), 'utf8')) as { records: number };
      const { records, errors, summary } = await collect(fix(f));
      assert.deepEqual(errors, [], f);
      assert.equal(summary.format, 'zeek-tsv');
      assert.equal(records.length, want.records, f);
      // The renamed columns' values, straight from the file.
      const rows = fs
        .readFileSync(corpusPath(f), 'utf8')
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('#'))
        .map((l) => l.split('\t'));
      assert.deepEqual(
        records.map((r) => [r.uid, r.orig_h, String(r.orig_p), r.resp_h, String(r.resp_p)]),
        rows.map((c) => c.slice(1, 6)),
        f,
      );
      out.push(records);
    }
    assert.deepEqual(out[0], out[1], 'the same Zeek run under two namings gives the same records');
  });

  it("keeps histories with Zeek's flip marker where Zeek writes it (D^: flipped after the first data)", async () => {
    const line = (h: string): string =>
      JSON.stringify({
        ts: 1300475167.1,
        uid: 'CabcdefGhijk1',
        'id.orig_h': '10.0.0.1',
        'id.orig_p': 53,
        'id.resp_h': '10.0.0.2',
        'id.resp_p': 40000,
        proto: 'udp',
        history: h,
      });
    const { records, errors } = await collect(textStream(`${line('D^')}\n${line('^d')}\n${line('Dd^1')}\n`));
    assert.deepEqual(
      records.map((r) => r.history),
      ['D^', '^d'],
    );
    assert.equal(errors.length, 1);
    assert.match(errors[0].reason, /not a Zeek history/);
  });
});
