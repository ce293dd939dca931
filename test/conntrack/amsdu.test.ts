/**
 * A frame that holds several packets (802.11 A-MSDU inside Aruba GRE) reaches the tracker as one
 * decode per packet, the carrying layers repeated in front (DecodedPacket.repeated): those count
 * once, with the first packet, and still parent the packets inside. Values from
 * zeek/tunnels/gre-aruba-amsdu.pcap (tshark: outer IP 451 bytes, inner 281 + 75) and its Zeek
 * baseline (core.tunnels.gre-aruba-amsdu, a `zeek -b` run).
 */
import * as assert from 'node:assert/strict';
import { analyzeFile } from '../../src/analyze/pipeline';
import type { ConnRecord } from '../../parsers/record/conn';
import { BARE_LIKELY_SERVER_PORTS_TCP, BARE_LIKELY_SERVER_PORTS_UDP } from '../../parsers/conntrack/tracker';
import { corpusPath, requireCorpus } from '../util/corpus';

async function analyse(likelyServerPortsTcp?: number[], likelyServerPortsUdp?: number[]): Promise<ConnRecord[]> {
  const recs: ConnRecord[] = [];
  const res = await analyzeFile(corpusPath('zeek/tunnels/gre-aruba-amsdu.pcap'), (r) => recs.push(r), {
    tracker: { verifyChecksums: true, likelyServerPortsTcp, likelyServerPortsUdp },
  });
  assert.equal(res.error, null);
  return recs.filter((r) => !r.interim);
}

describe('conntrack: the layers carrying an A-MSDU count once', () => {
  it('the outer GRE flow has the frame once; the inner TCP flow both subframes, parented by it', async function (this: Mocha.Context) {
    requireCorpus(this);
    const recs = await analyse();
    const gre = recs.find((r) => r.ip_proto === 47);
    const tcp = recs.find((r) => r.ip_proto === 6);
    assert.ok(gre && tcp);
    assert.deepEqual([gre.orig_pkts, gre.orig_ip_bytes, gre.resp_pkts], [1, 451, 0]);
    assert.deepEqual(tcp.tunnel_parents, [gre.uid]);
    assert.equal(tcp.orig_pkts + tcp.resp_pkts, 2);
    assert.equal(tcp.orig_ip_bytes + tcp.resp_ip_bytes, 356);
  });

  it('oriented as Zeek orients it: by default 443 is a server port (^d); `zeek -b` knows no TCP server ports (D)', async function (this: Mocha.Context) {
    requireCorpus(this);
    const byDefault = (await analyse()).find((r) => r.ip_proto === 6)!;
    assert.deepEqual([byDefault.orig_h, byDefault.orig_p, byDefault.history, byDefault.resp_pkts], ['149.159.130.184', 49392, '^d', 2]);
    const bare = (await analyse([...BARE_LIKELY_SERVER_PORTS_TCP], [...BARE_LIKELY_SERVER_PORTS_UDP])).find((r) => r.ip_proto === 6)!;
    // The baseline's row: 157.240.18.16:443 > 149.159.130.184:49392, OTH, D, 2 packets, 356 IP bytes.
    assert.deepEqual(
      [bare.orig_h, bare.orig_p, bare.resp_h, bare.resp_p, bare.conn_state, bare.history, bare.orig_pkts, bare.orig_ip_bytes, bare.resp_pkts],
      ['157.240.18.16', 443, '149.159.130.184', 49392, 'OTH', 'D', 2, 356, 0],
    );
  });
});
