/**
 * NetFlow v5/v9 and IPFIX datagrams from real exporters (the corpus' flows/netflow: Logstash's
 * codec test datagrams from Cisco ASA/WLC/ASR/1941, Palo Alto, H3C, nProbe, Procera, Mikrotik,
 * VMware VDS, Nokia, vIPtela, Streamcore, IXIA, softflowd) decoded through NetflowRecords, against
 * tshark's decode of the same datagrams (`<test>.pcap.cflow.tsv`): per datagram, every record's
 * addresses, ports, protocol, packets, octets and times as tshark reads them.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NetflowProblem } from '../../parsers/netflow/decoder';
import { NetflowRecords } from '../../parsers/netflow/records';
import type { ConnRecord } from '../../parsers/record/conn';
import { corpusAvailable, corpusPath, requireCorpus } from '../util/corpus';

const DIR = 'flows/netflow/tests';

interface CorpusTest {
  slug: string;
  datagrams: string[];
  expected_events: number | null;
  tshark_oracle: { data_records: number };
}

function loadTests(): CorpusTest[] {
  if (!corpusAvailable()) return [];
  const m = JSON.parse(fs.readFileSync(corpusPath('flows/MANIFEST.json'), 'utf8')) as { netflow: CorpusTest[] };
  return m.netflow;
}

/** tshark's fields per frame, each a list in record order (the TSV joins repeated fields with commas). */
type Frame = Record<string, string[]>;

function tsharkFrames(slug: string): Frame[] {
  const lines = fs
    .readFileSync(corpusPath(`${DIR}/${slug}.pcap.cflow.tsv`), 'utf8')
    .trimEnd()
    .split('\n');
  const cols = lines[0].split('\t');
  return lines.slice(1).map((l) => {
    const c = l.split('\t');
    const f: Frame = {};
    cols.forEach((name, i) => {
      // Dates contain commas ("Apr 15, 2018 03:26:50"): split on a comma not followed by a space.
      f[name.replace(/^cflow\./, '')] = c[i] ? c[i].split(/,(?! )/) : [];
    });
    return f;
  });
}

function decodeTest(t: CorpusTest): { perFrame: ConnRecord[][]; problems: NetflowProblem[]; dropped: number } {
  const problems: NetflowProblem[] = [];
  let cur: ConnRecord[] = [];
  const nf = new NetflowRecords((r) => cur.push(r), { stitch: false, decoder: { onProblem: (p) => problems.push(p) } });
  const perFrame: ConnRecord[][] = [];
  t.datagrams.forEach((d, i) => {
    cur = [];
    nf.decode(fs.readFileSync(path.join(corpusPath(DIR), d)), '192.0.2.10', 1_000_000 + i * 1000);
    perFrame.push(cur);
  });
  return { perFrame, problems, dropped: nf.countsOf('192.0.2.10').dropped };
}

const ZERO4 = '0.0.0.0';
const ZERO6 = '::';

/**
 * The record as the exporter wrote it: a lone SYN-ACK is turned round into its connection's
 * orientation (to-conn/stitch), so its sender is the responder.
 */
function asExported(r: ConnRecord): { src: string; sport: number; dst: string; dport: number; pkts: number; octets: number } {
  return r.orig_pkts === 0 && r.resp_pkts > 0
    ? { src: r.resp_h, sport: r.resp_p, dst: r.orig_h, dport: r.orig_p, pkts: r.resp_pkts, octets: r.resp_ip_bytes }
    : { src: r.orig_h, sport: r.orig_p, dst: r.resp_h, dport: r.resp_p, pkts: r.orig_pkts, octets: r.orig_ip_bytes };
}

/** tshark's address of record `i` of a frame: its IPv4 or IPv6 column, whichever is in use. */
function addrs(f: Frame, v4: string, v6: string, recs: ConnRecord[], side: 'src' | 'dst'): (string | undefined)[] {
  const a4 = f[v4];
  const a6 = f[v6];
  const n = recs.length;
  if (a4.length === n && a6.length === n) return a4.map((a, i) => (a !== ZERO4 ? a : a6[i] !== ZERO6 ? a6[i] : a));
  // Templates of one family each: each column lists its family's records in order.
  let i4 = 0;
  let i6 = 0;
  return recs.map((r) => (asExported(r)[side].includes(':') ? a6[i6++] : a4[i4++]));
}

function msOf(date: string): number {
  // "Apr 15, 2018 03:26:50.000000000 UTC": Date.parse takes it once the nanoseconds are cut to ms.
  const m = /^(.*\d\d:\d\d:\d\d)\.(\d{3})\d* UTC$/.exec(date);
  assert.ok(m, `tshark date ${date}`);
  return Date.parse(`${m[1]} UTC`) + Number(m[2]);
}

/** Compare one test's records with tshark; returns the number of records checked. */
function checkTest(t: CorpusTest): number {
  const { perFrame } = decodeTest(t);
  const frames = tsharkFrames(t.slug);
  let checked = 0;
  // tshark cannot decode some vendor templates past their first record (H3C): there the rspec's
  // count is the expectation, and tshark's records are checked as far as it got.
  const partial = t.expected_events !== null && t.tshark_oracle.data_records < t.expected_events;
  frames.forEach((f, fi) => {
    let recs = perFrame[fi];
    const n = f.protocol.length;
    if (n === 0) return; // templates only, or records tshark could not decode
    if (partial) {
      assert.equal(recs.length, t.expected_events, `${t.slug} frame ${fi + 1}: records (rspec)`);
      recs = recs.slice(0, n);
    }
    assert.equal(recs.length, n, `${t.slug} frame ${fi + 1}: records`);
    const src = addrs(f, 'srcaddr', 'srcaddrv6', recs, 'src');
    const dst = addrs(f, 'dstaddr', 'dstaddrv6', recs, 'dst');
    recs.forEach((r, i) => {
      const at = `${t.slug} frame ${fi + 1} record ${i + 1}`;
      const x = asExported(r);
      assert.equal(x.src, src[i], `${at}: source address`);
      assert.equal(x.dst, dst[i], `${at}: destination address`);
      assert.equal(r.ip_proto, Number(f.protocol[i]), `${at}: protocol`);
      if (r.ip_proto === 6 || r.ip_proto === 17) {
        assert.equal(x.sport, Number(f.srcport[i]), `${at}: source port`);
        assert.equal(x.dport, Number(f.dstport[i]), `${at}: destination port`);
      }
      if (f.packets.length === n) assert.equal(x.pkts, Number(f.packets[i]), `${at}: packets`);
      if (f.octets.length === n) assert.equal(x.octets, Number(f.octets[i]), `${at}: octets`);
      if (f.abstimestart.length === n && f.abstimeend.length === n) {
        const s = msOf(f.abstimestart[i]);
        assert.ok(Math.abs(r.ts * 1000 - s) < 1, `${at}: start ${r.ts} vs tshark ${f.abstimestart[i]}`);
        assert.ok(Math.abs(r.duration * 1000 - (msOf(f.abstimeend[i]) - s)) < 1, `${at}: duration ${r.duration}`);
      } else if (f.timestart.length === n && f.timeend.length === n) {
        // Uptime-relative times: tshark prints them as they are; the duration is their difference
        // (mod 2^32 ms: a start just before the uptime wrapped shows as 4294967.295).
        const d = (((Number(f.timeend[i]) - Number(f.timestart[i])) * 1000 + 2 ** 32) % 2 ** 32) / 1000;
        assert.ok(Math.abs(r.duration - d) < 0.0015, `${at}: duration ${r.duration} vs tshark ${d}`);
      }
      assert.ok(r.ts > 0 && r.duration >= 0 && r.duration < 86400, `${at}: plausible time ${r.ts} / ${r.duration}`);
      checked++;
    });
  });
  return checked;
}

describe('netflow corpus: real exporters against tshark', () => {
  for (const t of loadTests()) {
    it(`${t.slug}: every record tshark decodes, field by field`, function () {
      requireCorpus(this);
      const n = checkTest(t);
      // What tshark decoded as flows (options records and address-less records aside) was all checked.
      const flows = tsharkFrames(t.slug).reduce((a, f) => a + f.protocol.length, 0);
      assert.equal(n, flows, 'records checked');
    });
  }

  it('IPFIX Procera: a template with IPv4 and IPv6 fields gives the family in use, never ::', function () {
    requireCorpus(this);
    const t = loadTests().find((x) => x.slug === 'IPFIX-Procera') as CorpusTest;
    const recs = decodeTest(t).perFrame.flat();
    assert.equal(recs.length, 8);
    assert.deepEqual(
      recs.map((r) => `${r.orig_h} > ${r.resp_h}`),
      [
        '181.214.87.71 > 138.44.161.14',
        '2001:388:cf0a:6::1 > 2001:388:cf0a:6::2',
        '5.188.11.35 > 138.44.161.14',
        '206.117.25.89 > 138.44.161.14',
        '2001:388:cf0a:6::1 > 2001:388:cf0a:6::2',
        '185.232.29.199 > 138.44.161.14',
        '177.188.228.137 > 138.44.161.14',
        '138.44.161.14 > 138.44.161.13',
      ],
    );
  });

  it('H3C NetStream: a v9 template with a variable-length field is decoded (as tshark and Logstash do)', function () {
    requireCorpus(this);
    const t = loadTests().find((x) => x.slug === 'Netflow-9-H3C-Netstream-with-varstring') as CorpusTest;
    const { perFrame, problems } = decodeTest(t);
    assert.deepEqual(problems, []);
    assert.equal(perFrame.flat().length, 1);
  });

  it('Palo Alto: zero padding after the last flowset is not malformed', function () {
    requireCorpus(this);
    const t = loadTests().find((x) => x.slug === 'Netflow-9-Palo-Alto-1-flowset-in-large-zero-filled-packet') as CorpusTest;
    const { perFrame, problems } = decodeTest(t);
    assert.deepEqual(problems, []);
    assert.equal(perFrame.flat().length, 1);
  });

  it('nProbe DPI: flow times past the header uptime end the flow at export time, never a negative ts', function () {
    requireCorpus(this);
    const t = loadTests().find((x) => x.slug === 'Netflow-9-nprobe-DPI-L7') as CorpusTest;
    const [r] = decodeTest(t).perFrame.flat();
    // Header: unix_secs 502, sysUptime 91 s; the flow: 101 s to 104 s of uptime (tshark's timestart/timeend).
    assert.equal(r.ts, 499);
    assert.equal(r.duration, 3);
  });

  it('Cisco ASA NSEL: initiatorOctets/responderOctets (231/232) are both sides of one connection, as tshark reads them', function () {
    requireCorpus(this);
    const t = loadTests().find((x) => x.slug === 'Netflow-9-Cisco-ASA-2') as CorpusTest;
    const recs = decodeTest(t).perFrame.flat();
    // tshark's JSON decode, flow by flow in datagram order (TShark -T json keeps each flow's fields together).
    const text = fs.readFileSync(corpusPath(`${DIR}/${t.slug}.pcap.cflow.json`), 'utf8');
    const flows = text
      .split(/"Flow \d+": \{/)
      .slice(1)
      .map((b) => {
        const get = (k: string): string | undefined => new RegExp(`"cflow\\.${k}": "([^"]*)"`).exec(b)?.[1];
        return {
          src: get('srcaddr'),
          sport: Number(get('srcport')),
          dst: get('dstaddr'),
          dport: Number(get('dstport')),
          init: get('initiator_octets'),
          resp: get('responder_octets'),
        };
      });
    assert.equal(recs.length, flows.length);
    assert.equal(flows.filter((f) => f.resp !== undefined).length, 15);
    recs.forEach((r, i) => {
      const f = flows[i];
      const at = `record ${i + 1}`;
      // The initiator is the exporter's source: never turned round.
      assert.deepEqual([r.orig_h, r.resp_h], [f.src, f.dst], at);
      if (r.proto !== 'icmp') assert.deepEqual([r.orig_p, r.resp_p], [f.sport, f.dport], at);
      if (f.resp === undefined) {
        // A flow-creation or denial event without counters: one direction, still waiting for a reply.
        assert.equal(r.resp_ip_bytes, 0, at);
        return;
      }
      assert.equal(r.orig_ip_bytes, Number(f.init), `${at}: initiator octets`);
      assert.equal(r.resp_ip_bytes, Number(f.resp), `${at}: responder octets`);
      assert.equal(r.observed, undefined, `${at}: a biflow is not one-way`);
      if (Number(f.resp) > 0 && r.proto !== 'tcp') assert.equal(r.conn_state, 'SF', at);
    });
    // With the stitcher on, the biflows pass whole: as many records as the exporter sent flows with both counters.
    const out: ConnRecord[] = [];
    const nf = new NetflowRecords((r) => {
      out.push(r);
    });
    t.datagrams.forEach((d, i) => {
      nf.decode(fs.readFileSync(path.join(corpusPath(DIR), d)), '192.0.2.10', 1_000_000 + i * 1000);
    });
    assert.equal(out.filter((r) => r.resp_ip_bytes > 0 && r.orig_ip_bytes > 0).length, flows.filter((f) => Number(f.resp) > 0 && Number(f.init) > 0).length);
  });

  it('every datagram of every exporter decodes without a problem report', function () {
    requireCorpus(this);
    for (const t of loadTests()) assert.deepEqual(decodeTest(t).problems, [], t.slug);
  });
});
