import * as assert from 'node:assert/strict';
import { corpusPath, requireCorpus } from '../util/corpus';
import { readZeekLog, runPcap, zeekColumns } from './helpers';

// Real captures against Zeek's own conn.log baselines (zeek/zeek btest). Columns compared:
// 5-tuple, duration, bytes, conn_state, missed_bytes, history, packets, IP bytes, ip_proto.
const CASES: [string, string][] = [
  ['zeek/wikipedia.pcap', 'zeek/wikipedia.pcap.zeek.opt.basic.conn.log'],
  ['zeek/pop3/pop3.pcap', 'zeek/pop3/pop3.pcap.zeek.scripts.base.protocols.pop3.basic.conn.log'],
  ['zeek/ssh/ssh.client-side-half-duplex.pcap', 'zeek/ssh/ssh.client-side-half-duplex.pcap.zeek.scripts.base.protocols.ssh.half-duplex-client.conn.log'],
  ['zeek/tcp/missing-syn.pcap', 'zeek/tcp/missing-syn.pcap.zeek.core.history-flip.conn.log'],
  ['zeek/ftp/ipv6.pcap', 'zeek/ftp/ipv6.pcap.zeek.scripts.base.protocols.ftp.ftp-ipv6.conn.log'],
  ['zeek/http/get.pcap', 'zeek/http/get.pcap.zeek.core.tcp.reassembly-known-ports.conn.log'],
  ['zeek/q-in-q.pcap', 'zeek/q-in-q.pcap.zeek.core.q-in-q.conn.log'],
];

const key = (o: Record<string, string>): string => `${o['id.orig_h']}|${o['id.orig_p']}|${o['id.resp_h']}|${o['id.resp_p']}|${o.proto}`;

describe('conntrack/tracker vs Zeek conn.log baselines (real captures)', () => {
  for (const [pcap, log] of CASES) {
    it(pcap, function (this: Mocha.Context) {
      requireCorpus(this);
      const mine = runPcap(corpusPath(pcap)).map(zeekColumns);
      const exp = readZeekLog(corpusPath(log));
      assert.equal(mine.length, exp.length, 'number of connections');
      // Zeek logs in removal order; compare as multisets per 5-tuple, in first-packet order.
      const pool = new Map<string, Record<string, string>[]>();
      for (const m of mine) {
        const k = key(m);
        pool.set(k, [...(pool.get(k) ?? []), m]);
      }
      for (const e of exp) {
        const cands = pool.get(key(e)) ?? [];
        const cols = Object.keys(cands[0] ?? {});
        const i = cands.findIndex((m) => cols.every((c) => m[c] === e[c]));
        assert.ok(i >= 0, `no match for ${cols.map((c) => e[c]).join(' ')}\n candidates:\n${cands.map((m) => cols.map((c) => m[c]).join(' ')).join('\n')}`);
        cands.splice(i, 1);
      }
    });
  }

  it('pop3.pcap and the half-duplex SSH capture split repeated 4-tuples into separate connections', function (this: Mocha.Context) {
    requireCorpus(this);
    const pop = runPcap(corpusPath('zeek/pop3/pop3.pcap')).filter((r) => r.orig_p === 26242);
    assert.equal(pop.length, 3);
    assert.ok(pop.every((r) => r.conn_state === 'REJ' && r.history === 'Sr'));
    const ssh = runPcap(corpusPath('zeek/ssh/ssh.client-side-half-duplex.pcap')).filter((r) => r.orig_p === 51880);
    assert.deepEqual(
      ssh.map((r) => [r.history, r.conn_state]),
      [
        ['SAD', 'S0'],
        ['DAF', 'SH'],
      ],
    );
  });
});
