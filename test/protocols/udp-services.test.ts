/**
 * NTP, DHCP and RDPEUDP in conn.log's `service`, as Zeek's port-attached analyzers (123; 67/68;
 * 3389) name them once a well-formed message (RDPEUDP: the SYN answered by a SYN+ACK) is seen; and Zeek's default local networks on the same captures
 * (DHCP's 0.0.0.0 -> 255.255.255.255 is local both ways).
 */
import { strict as assert } from 'node:assert';
import { AnalyzerMux, selectAnalyzers } from '../../parsers/protocols/mux';
import { isDhcp, isNtp, RdpeudpAnalyzer } from '../../parsers/protocols/udp-services';
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

  it('rdpeudp: confirms on the responder SYN+ACK after the originator SYN, nothing before or otherwise', () => {
    // RDPUDP_FEC_HEADER as the first datagrams of rdpeudp2-handshake-success.pcap carry it.
    const fec = (ack: number, flags: number): Buffer => {
      const b = Buffer.alloc(16);
      b.writeUInt32BE(ack, 0);
      b.writeUInt16BE(0x0040, 4);
      b.writeUInt16BE(flags, 6);
      return b;
    };
    const run = (steps: [boolean, Buffer][]): string => {
      const a = new RdpeudpAnalyzer({ transport: 'udp', sink: () => undefined });
      for (const [isOrig, b] of steps) a.data(isOrig, b, 0, b.length, 1);
      return a.state;
    };
    const syn = fec(0xffffffff, 0x1801);
    const synAck = fec(0xa7eb5da4, 0x1805);
    assert.equal(
      run([
        [true, syn],
        [false, synAck],
      ]),
      'confirmed',
    );
    assert.equal(run([[true, syn]]), 'probing', 'an unanswered SYN (rdpeudp-handshake-fail.pcap)');
    assert.equal(
      run([
        [true, syn],
        [true, syn],
        [true, syn],
      ]),
      'probing',
    );
    assert.equal(run([[false, synAck]]), 'probing', 'a SYN+ACK without the SYN');
    assert.equal(
      run([
        [true, fec(0, 0x1801)],
        [false, synAck],
      ]),
      'probing',
      'a SYN needs snSourceAck 0xffffffff',
    );
    assert.equal(run([[true, Buffer.alloc(7)]]), 'rejected', 'shorter than the FEC header');
    assert.deepEqual(services(3389, [syn]), []);
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

    for (const [rel, tuple, service] of [
      ['zeek/rdp/rdpeudp-handshake-success.pcap', '::1 61291 ::1 3389', ['rdpeudp']],
      ['zeek/rdp/rdpeudp2-handshake-success.pcap', '192.168.57.5 65368 192.168.57.8 3389', ['rdpeudp']],
      ['zeek/rdp/rdpeudp-handshake-fail.pcap', '192.168.38.1 63568 192.168.38.102 3389', []],
    ] as const) {
      it(`${rel.split('/').pop()}: service ${service.join(',') || '-'} on 3389/udp (as Zeek)`, async function () {
        requireCorpus(this);
        const conns = await analyze(rel);
        const c = conns.find((r) => `${r.orig_h} ${r.orig_p} ${r.resp_h} ${r.resp_p}` === tuple);
        assert.ok(c, `no connection ${tuple}`);
        assert.deepEqual(c.service, service);
      });
    }

    it('redis-50-pings.pcap: 127.0.0.1 is local both ways (Zeek counts loopback as private address space)', async function () {
      requireCorpus(this);
      const conns = await analyze('zeek/pop3/redis-50-pings.pcap');
      assert.equal(conns.length, 1);
      assert.deepEqual([conns[0].orig_h, conns[0].local_orig, conns[0].local_resp], ['127.0.0.1', true, true]);
    });
  });
});
