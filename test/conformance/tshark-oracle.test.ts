/**
 * Captures in ../shared/corpus without a Zeek conn.log are checked against their tshark and
 * capinfos oracles: packet totals, and for every TCP/UDP conversation tshark lists, the packets
 * of our connection records between the same two endpoints. Also the RST-behaviour traces,
 * whose Zeek baseline prints history and conn_state.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzeFile } from '../../src/analyze/pipeline';
import type { ConnRecord } from '../../parsers/record/conn';
import { CORPUS_DIR, corpusAvailable, corpusFiles, corpusPath, requireCorpus } from '../util/corpus';

function captures(): string[] {
  return corpusFiles(/\.(pcap|pcapng)$/);
}

function hasZeekConnLog(capture: string): boolean {
  const dir = path.dirname(capture);
  const base = path.basename(capture);
  return fs.readdirSync(dir).some((f) => f.startsWith(`${base}.`) && /\.conn\.log(\.cut)?$/.test(f));
}

/** Packets per capinfos; for a file capinfos gave up on, the packets tshark read before the fault. */
function oraclePackets(capture: string): number | null {
  const f = `${capture}.capinfos.txt`;
  if (fs.existsSync(f)) {
    const text = fs.readFileSync(f, 'utf8');
    const m = /Number of packets:\s+(\d+)/.exec(text) ?? /error occurred after reading (\d+) packets/.exec(text);
    if (m) return Number(m[1]);
  }
  const tsv = `${capture}.tshark.tsv`;
  if (!fs.existsSync(tsv)) return null;
  // Rows after the header whose frame has a protocol stack (pcapng custom blocks show as "data").
  return fs
    .readFileSync(tsv, 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '').length;
}

interface Conversation {
  proto: 'tcp' | 'udp';
  a: string;
  b: string;
  frames: number;
}

/** Endpoints as tshark prints them: v4 `1.2.3.4:80`, v6 `2001:db8::1:80` (last colon splits). */
function parseConversations(capture: string): Conversation[] {
  const f = `${capture}.tshark.conv.txt`;
  if (!fs.existsSync(f)) return [];
  const out: Conversation[] = [];
  let proto: 'tcp' | 'udp' | null = null;
  for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
    if (line.startsWith('TCP Conversations')) proto = 'tcp';
    else if (line.startsWith('UDP Conversations')) proto = 'udp';
    const m = /^(\S+)\s+<->\s+(\S+)\s+\d+\s+\S+\s+\S+\s+\d+\s+\S+\s+\S+\s+(\d+)\s/.exec(line);
    if (m && proto) out.push({ proto, a: m[1], b: m[2], frames: Number(m[3]) });
  }
  return out;
}

function endpoint(h: string, p: number): string {
  return `${h}:${p}`;
}

describe('conformance with tshark/capinfos oracles (../shared/corpus)', () => {
  const list = corpusAvailable() ? captures().filter((c) => !hasZeekConnLog(c)) : [];

  before(function () {
    requireCorpus(this);
  });

  for (const capture of list) {
    it(`${path.relative(CORPUS_DIR, capture)}: packet total and conversations`, async () => {
      const recs: ConnRecord[] = [];
      const res = await analyzeFile(capture, (r) => recs.push(r));
      const expected = oraclePackets(capture);
      if (res.error) {
        // A corrupt capture: everything before the fault was read (the oracle's count).
        assert.ok(expected !== null);
        assert.equal(res.packets, expected, res.error.message);
        return;
      }
      if (expected !== null) assert.equal(res.packets, expected, 'packets read');
      const finals = recs.filter((r) => !r.interim);
      for (const conv of parseConversations(capture)) {
        // tshark lists the conversations of every layer it decodes (outer VXLAN, inner IP-in-IP), as we do.
        const ours = finals.filter(
          (r) =>
            r.proto === conv.proto &&
            ((endpoint(r.orig_h, r.orig_p) === conv.a && endpoint(r.resp_h, r.resp_p) === conv.b) ||
              (endpoint(r.orig_h, r.orig_p) === conv.b && endpoint(r.resp_h, r.resp_p) === conv.a)),
        );
        const pkts = ours.reduce((s, r) => s + r.orig_pkts + r.resp_pkts, 0);
        assert.equal(pkts, conv.frames, `${conv.proto} ${conv.a} <-> ${conv.b}: packets`);
      }
    });
  }

  describe('Zeek conn_state-RST-behavior baseline', () => {
    // From zeek/tcp/*.pcap.zeek.scripts.base.protocols.conn.conn_state-RST-behavior.out, one line per trace.
    const cases: Array<[string, string, string]> = [
      ['zeek/tcp/single-rst.pcap', 'R', 'OTH'],
      ['zeek/tcp/syn-then-rst.pcap', 'SR', 'RSTOS0'],
      ['zeek/tcp/syn-then-ack-then-rst.pcap', 'SaR', 'RSTOS0'],
      ['zeek/tcp/syn-then-stuff-then-rst.pcap', 'SaFR', 'OTH'],
    ];
    it('agrees with the baseline file', function () {
      requireCorpus(this);
      const lines = fs
        .readFileSync(corpusPath('zeek/tcp/single-rst.pcap.zeek.scripts.base.protocols.conn.conn_state-RST-behavior.out'), 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('#'));
      assert.deepEqual(
        lines,
        cases.map((c) => `${c[1]}, ${c[2]}`),
      );
    });
    for (const [file, history, state] of cases) {
      it(`${file}: history ${history}, conn_state ${state}`, async function () {
        requireCorpus(this);
        const recs: ConnRecord[] = [];
        await analyzeFile(corpusPath(file), (r) => recs.push(r));
        assert.equal(recs.length, 1);
        assert.equal(recs[0].history, history);
        assert.equal(recs[0].conn_state, state);
      });
    }
  });
});
