/**
 * NTP and DHCP in conn.log's `service`, as Zeek's port-attached analyzers (123; 67/68) name them
 * once a well-formed message is seen; and Zeek's default local networks on the same captures
 * (DHCP's 0.0.0.0 -> 255.255.255.255 is local both ways).
 */
import { strict as assert } from 'node:assert';
import { AnalyzerMux, selectAnalyzers } from '../../parsers/protocols/mux';
import { isDhcp, isNtp } from '../../parsers/protocols/udp-services';
import type { ConnRecord } from '../../parsers/record/conn';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory } from '../../src/analyze/app';
import { corpusPath, requireCorpus } from '../util/corpus';

function ntpClient(): Buffer {
  const b = Buffer.alloc(48);
  b[0] = (0 << 6) | (4 << 3) | 3; // LI 0, version 4, mode 3 (client)
  return b;
}

function dhcpDiscover(): Buffer {
  const b = Buffer.alloc(300);
  b[0] = 1; // BOOTREQUEST
  b[1] = 1; // Ethernet
  b[2] = 6;
  b.writeUInt32BE(0x63825363, 236);
  b[240] = 53; // DHCP message type: DISCOVER
  b[241] = 1;
  b[242] = 1;
  b[243] = 255;
  return b;
}

function services(respPort: number, datagrams: Buffer[], opts = {}): readonly string[] {
  const m = new AnalyzerMux('udp', () => undefined, { ...opts, respPort });
  let ts = 1;
  for (const d of datagrams) m.data(true, d, 0, d.length, ts++);
  m.end(ts);
  return m.services;
}

describe('protocols/udp-services: NTP and DHCP service (Zeek attaches them by port)', () => {
  it('recognises the fixed part of each message and refuses near misses', () => {
    assert.equal(isNtp(ntpClient(), 0, 48), true);
    assert.equal(isNtp(ntpClient(), 0, 47), false, 'mode 3 needs the 48-byte header');
    const v0 = ntpClient();
    v0[0] = 3; // version 0
    assert.equal(isNtp(v0, 0, 48), false);
    const control = Buffer.alloc(12);
    control[0] = (2 << 3) | 6; // version 2, mode 6
    assert.equal(isNtp(control, 0, 12), true);
    assert.equal(isDhcp(dhcpDiscover(), 0, 300), true);
    const noCookie = dhcpDiscover();
    noCookie.writeUInt32BE(0, 236);
    assert.equal(isDhcp(noCookie, 0, 300), false);
    const op3 = dhcpDiscover();
    op3[0] = 3;
    assert.equal(isDhcp(op3, 0, 300), false);
    assert.equal(isDhcp(dhcpDiscover(), 0, 239), false);
  });

  it('names ntp on port 123 and dhcp on 67 and 68, only for well-formed messages, never on other ports', () => {
    assert.deepEqual(services(123, [ntpClient()]), ['ntp']);
    assert.deepEqual(services(123, [Buffer.from('hello, not ntp at all, but long enough to be a header....')]), []);
    assert.deepEqual(services(1123, [ntpClient()]), []);
    assert.deepEqual(services(67, [dhcpDiscover()]), ['dhcp']);
    assert.deepEqual(services(68, [dhcpDiscover()]), ['dhcp']);
    assert.deepEqual(services(69, [dhcpDiscover()]), []);
    // A bare run that did not load base/protocols/ntp does not name it (zeek -b without the script).
    assert.deepEqual(services(123, [ntpClient()], selectAnalyzers(['dns'])), []);
    assert.deepEqual(services(123, [ntpClient()], selectAnalyzers(['ntp'])), ['ntp']);
  });

  describe('on captures of the shared corpus', () => {
    async function analyze(rel: string): Promise<ConnRecord[]> {
      const conns: ConnRecord[] = [];
      const res = await analyzeFile(corpusPath(rel), (r) => (r.interim ? undefined : conns.push(r)), {
        tracker: { payload: analyzerFactory(() => undefined) },
      });
      assert.equal(res.error, null);
      return conns;
    }

    it('misordered-ntp.pcap: the NTP exchange is service ntp (as Zeek)', async function () {
      requireCorpus(this);
      const conns = await analyze('zeek/ntp/misordered-ntp.pcap');
      const ntp = conns.filter((c) => c.resp_p === 123);
      assert.equal(ntp.length, 1);
      assert.deepEqual(ntp[0].service, ['ntp']);
    });

    it('dhcp.pcap: every exchange is service dhcp; 0.0.0.0 and 255.255.255.255 are local (as Zeek)', async function () {
      requireCorpus(this);
      const conns = await analyze('zeek/dhcp/dhcp.pcap');
      assert.equal(conns.length, 4);
      for (const c of conns) assert.deepEqual(c.service, ['dhcp'], `${c.orig_h} -> ${c.resp_h}`);
      const bcast = conns.find((c) => c.orig_h === '0.0.0.0');
      assert.ok(bcast);
      assert.equal(bcast.resp_h, '255.255.255.255');
      assert.deepEqual([bcast.local_orig, bcast.local_resp], [true, true]);
      // 128.2.0.0/16 is public: not local, as in Zeek's baseline.
      const unicast = conns.find((c) => c.orig_h === '128.2.6.97');
      assert.ok(unicast);
      assert.deepEqual([unicast.local_orig, unicast.local_resp], [false, false]);
    });

    it('redis-50-pings.pcap: 127.0.0.1 is local both ways (Zeek counts loopback as private address space)', async function () {
      requireCorpus(this);
      const conns = await analyze('zeek/pop3/redis-50-pings.pcap');
      assert.equal(conns.length, 1);
      assert.deepEqual([conns[0].orig_h, conns[0].local_orig, conns[0].local_resp], ['127.0.0.1', true, true]);
    });
  });
});
