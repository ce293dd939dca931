/**
 * conn.log's `service` (and ip_bytes) where Zeek's reasons are not the plain "an analyzer
 * confirmed": protocols found inside LDAP SASL binds and the order Zeek confirms them in, HTTP
 * and TLS on connections seen without their SYN, Teredo seen one way only, DNS cut short by the
 * snap length, PPPoE padding, and TSO segments whose IPv4 total length is 0. Values are those of
 * Zeek's baselines beside each capture in ../shared/corpus.
 */
import { strict as assert } from 'node:assert';
import type { ConnRecord } from '../../parsers/record/conn';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory, analyzerSelection } from '../../src/analyze/app';
import type { AppRecordOut } from '../../parsers/record/app';
import { corpusPath, requireCorpus } from '../util/corpus';

async function conns(rel: string, verifyChecksums = false): Promise<ConnRecord[]> {
  const out: ConnRecord[] = [];
  const res = await analyzeFile(corpusPath(rel), (r) => (r.interim ? undefined : out.push(r)), {
    tracker: { payload: analyzerFactory(() => undefined), verifyChecksums },
  });
  assert.equal(res.error, null);
  return out;
}

function byTuple(rs: ConnRecord[], tuple: string): ConnRecord {
  const c = rs.find((r) => `${r.orig_h} ${r.orig_p} ${r.resp_h} ${r.resp_p}` === tuple);
  assert.ok(c, `no connection ${tuple}`);
  return c;
}

describe('conn.log service as Zeek names it (corpus captures)', () => {
  before(function () {
    requireCorpus(this);
  });

  describe('LDAP SASL binds: the GSSAPI, KRB and NTLM analyzers Zeek attaches, in confirmation order', () => {
    it('sasl-ntlm.pcap: raw NTLMSSP in the first bind confirms before LDAP (ntlm,ldap_tcp)', async () => {
      assert.deepEqual(byTuple(await conns('zeek/ldap/sasl-ntlm.pcap'), '127.0.0.1 60126 127.0.1.1 389').service, ['ntlm', 'ldap_tcp']);
    });

    it('gap-data-missing.pcapng: a GSS-SPNEGO Kerberos bind first (krb,gssapi,ldap_tcp)', async () => {
      const c = (await conns('zeek/ldap/gap-data-missing.pcapng')).find((r) => r.resp_p === 389);
      assert.ok(c);
      assert.deepEqual(c.service, ['krb', 'gssapi', 'ldap_tcp']);
    });

    it('krb5-sign-seal-01.pcap: a rootDSE search, then the Kerberos bind (ldap_tcp,krb,gssapi)', async () => {
      assert.deepEqual(byTuple(await conns('zeek/ldap/krb5-sign-seal-01.pcap'), '172.31.1.104 3116 172.31.1.101 389').service, ['ldap_tcp', 'krb', 'gssapi']);
    });

    it('missing_ldap_logs.pcapng: both orders; the bind in a TSO segment (IPv4 total length 0) adds 0 IP bytes, as in Zeek', async () => {
      const rs = await conns('zeek/ldap/missing_ldap_logs.pcapng');
      const expected: [string, string[], number, number][] = [
        ['10.199.2.121 59327 10.199.2.111 389', ['ldap_tcp', 'krb', 'gssapi'], 12, 2595],
        ['10.199.2.121 59355 10.199.2.111 389', ['ldap_tcp', 'krb', 'gssapi'], 6, 990],
        ['10.199.2.121 59356 10.199.2.111 389', ['krb', 'gssapi', 'ldap_tcp'], 4, 463],
      ];
      for (const [tuple, service, pkts, ipBytes] of expected) {
        const c = byTuple(rs, tuple);
        assert.deepEqual(c.service, service, tuple);
        assert.deepEqual([c.orig_pkts, c.orig_ip_bytes], [pkts, ipBytes], tuple);
      }
    });
  });

  it('wikipedia.pcap and mpls-in-vlan.pcap: HTTP seen without the SYN is not http (Zeek HTTP skips partial connections)', async () => {
    assert.deepEqual(byTuple(await conns('zeek/wikipedia.pcap'), '141.142.220.118 35634 208.80.152.2 80').service, []);
    const mpls = await conns('zeek/mpls-in-vlan.pcap');
    for (const p of [19244, 61193]) assert.deepEqual(byTuple(mpls, `65.65.65.65 ${p} 65.65.65.65 80`).service, [], String(p));
    // A connection seen from its SYN-ACK is not partial: http (missing-syn.pcap).
    assert.deepEqual(byTuple(await conns('zeek/tcp/missing-syn.pcap'), '141.42.64.125 56730 125.190.109.199 80').service, ['http']);
  });

  it('--analyze-partial: the same connection is http, with its request, for captures started after connections opened', async () => {
    const conn: ConnRecord[] = [];
    const http: AppRecordOut[] = [];
    const res = await analyzeFile(corpusPath('zeek/wikipedia.pcap'), (r) => (r.interim ? undefined : conn.push(r)), {
      tracker: { payload: analyzerFactory((r) => http.push(r), analyzerSelection(true, true)) },
    });
    assert.equal(res.error, null);
    const c = byTuple(conn, '141.142.220.118 35634 208.80.152.2 80');
    assert.deepEqual(c.service, ['http']);
    const reqs = http.filter((r) => r.kind === 'http' && r.uid === c.uid);
    assert.equal(reqs.length, 1);
    assert.equal((reqs[0] as { host?: string }).host, 'www.wikipedia.org');
  });

  it('teredo_bubble_with_payload.pcap: teredo only where encapsulated packets went both ways', async () => {
    const rs = await conns('zeek/tunnels/teredo_bubble_with_payload.pcap', true);
    assert.deepEqual(byTuple(rs, '192.168.2.16 3797 65.55.158.80 3544').service, ['teredo']);
    assert.deepEqual(byTuple(rs, '192.168.2.16 3797 83.170.1.38 32900').service, ['teredo']);
    assert.deepEqual(byTuple(rs, '192.168.2.16 3797 65.55.158.81 3544').service, [], 'one bubble, from the responder only');
  });

  it('geneve-vxlan-dns-truncated.pcap: a query cut in its OPT record and a response cut in its answers are still dns', async () => {
    const rs = await conns('zeek/tunnels/geneve-vxlan-dns-truncated.pcap', true);
    assert.deepEqual(byTuple(rs, '172.16.11.201 36872 1.1.1.1 53').service, ['dns']);
  });

  it('pppoe-over-qinq.pcap: padding past the PPPoE length never reaches the TLS stream (ssl)', async () => {
    const c = byTuple(await conns('zeek/pppoe-over-qinq.pcap', true), '1.1.1.1 20394 2.2.2.2 443');
    assert.deepEqual(c.service, ['ssl']);
    assert.deepEqual([c.resp_pkts, c.resp_ip_bytes], [42, 13001]);
  });
});
