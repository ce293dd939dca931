import * as assert from 'node:assert/strict';
import { NetflowDecoder } from '../../parsers/netflow/decoder';
import { FlowConverter, payloadEstimate, tcpConnState, tcpHistory } from '../../parsers/netflow/to-conn';
import { communityId } from '../../parsers/record/community-id';
import type { ConnRecord } from '../../parsers/record/conn';
import { v5, type V5Rec } from './build';

const F = 0x01;
const S = 0x02;
const R = 0x04;
const A = 0x10;

function convert(recs: V5Rec[], exporter = '192.0.2.1', localNets?: string[]): ConnRecord[] {
  const out: ConnRecord[] = [];
  const conv = new FlowConverter({ localNets });
  const d = new NetflowDecoder((f) => {
    const c = conv.toConn(f);
    if (c) out.push(c);
  });
  d.decode(v5(100_000, 1_700_000_000, 0, 1, recs), exporter);
  return out;
}

const base: V5Rec = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, proto: 6, flags: 0, pkts: 1, bytes: 40, first: 90_000, last: 90_000 };

describe('netflow to connection records', () => {
  it('maps one-way TCP flags to conn_state as documented', () => {
    assert.equal(tcpConnState(S, -1), 'S0');
    assert.equal(tcpConnState(S | R, -1), 'RSTOS0');
    assert.equal(tcpConnState(S | F, -1), 'SH');
    assert.equal(tcpConnState(S | A, -1), 'S1');
    assert.equal(tcpConnState(S | A | F, -1), 'S2');
    assert.equal(tcpConnState(S | A | R, -1), 'RSTO');
    assert.equal(tcpConnState(A | F, -1), 'OTH');
  });

  it('maps two-sided (biflow) TCP flags to conn_state like Zeek', () => {
    assert.equal(tcpConnState(S | A | F, S | A | F), 'SF');
    assert.equal(tcpConnState(S | A, S | A | R), 'RSTR');
    assert.equal(tcpConnState(S, R | A), 'REJ');
    assert.equal(tcpConnState(S, 0), 'S0');
    assert.equal(tcpConnState(S | A | F, S | A), 'S2');
    assert.equal(tcpConnState(S | A, S | A | F), 'S3');
    assert.equal(tcpConnState(0, S | A | R), 'RSTRH');
    assert.equal(tcpConnState(0, S | A | F), 'SHR');
    assert.equal(tcpHistory(S | A | F, S | A | F, true, true), 'ShADdFf');
    assert.equal(tcpHistory(S, R | A, false, false), 'Sar');
  });

  it('estimates payload bytes from IP bytes (exact for UDP)', () => {
    assert.equal(payloadEstimate(66, 1, 4, 17), 38);
    assert.equal(payloadEstimate(162, 2, 6, 17), 66);
    assert.equal(payloadEstimate(40, 1, 4, 6), 0);
    assert.equal(payloadEstimate(10, 1, 4, 6), 0);
  });

  it('gives stable uids from exporter, flow key and start time', () => {
    const a = convert([base, { ...base, first: 90_001 }]);
    const b = convert([base, { ...base, first: 90_001 }]);
    const c = convert([base], '192.0.2.2');
    assert.equal(a[0].uid, b[0].uid);
    assert.equal(a[1].uid, b[1].uid);
    assert.notEqual(a[0].uid, a[1].uid);
    assert.notEqual(a[0].uid, c[0].uid);
    assert.match(a[0].uid, /^C[0-9A-Za-z]{10,17}$/);
    // The same key at the same instant twice (two records of one flow) still gets two uids.
    const twice = convert([base, base]);
    assert.notEqual(twice[0].uid, twice[1].uid);
  });

  it('computes community_id and local_orig/local_resp, ICMP type/code as ports', () => {
    const [tcp, icmp] = convert(
      [
        { ...base, flags: S },
        { ...base, src: '192.168.1.5', dst: '1.1.1.1', sport: 0, dport: (3 << 8) | 1, proto: 1 },
      ],
      'e',
      ['10.0.0.0/8'],
    );
    assert.equal(tcp.community_id, communityId(0, 6, '10.0.0.1', '10.0.0.2', 40000, 80));
    assert.equal(tcp.local_orig, true);
    assert.equal(tcp.local_resp, true);
    assert.equal(tcp.conn_state, 'S0');
    assert.equal(tcp.history, 'S');
    assert.equal(icmp.orig_p, 3);
    assert.equal(icmp.resp_p, 1);
    assert.equal(icmp.community_id, communityId(0, 1, '192.168.1.5', '1.1.1.1', 3, 1));
    assert.equal(icmp.local_orig, false);
  });
});
