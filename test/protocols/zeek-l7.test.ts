/**
 * The analyzers' Zeek details, asserted on corpus captures against the values of Zeek's own
 * baselines (dns.log, http.log, ssl.log beside each capture) and on spec vectors: DNS rdata
 * rendering and the fields a lone response leaves unset, NetBIOS names (RFC 1001), TLS names
 * (IANA registries, 1.3 drafts), STARTTLS hand-over, HTTP/0.9, decoded body lengths, URI
 * unescaping.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory } from '../../src/analyze/app';
import { zeekAppJson } from '../../src/output/app-formats';
import { decodeNetbiosName, parseDnsMessage } from '../../parsers/protocols/dns';
import { unescapeUri } from '../../parsers/protocols/http';
import { alertName, cipherName, groupName, versionName } from '../../parsers/protocols/tls-names';
import type { AppRecordOut, DnsLogRecord, HttpLogRecord, TlsLogRecord } from '../../parsers/record/app';
import { AnalyzerMux } from '../../parsers/protocols/mux';
import { corpusPath, requireCorpus } from '../util/corpus';

async function app(rel: string): Promise<AppRecordOut[]> {
  const recs: AppRecordOut[] = [];
  await analyzeFile(corpusPath(rel), () => undefined, { tracker: { payload: analyzerFactory((r) => recs.push(r)) } });
  return recs;
}

const dns = (rs: AppRecordOut[]): (DnsLogRecord & AppRecordOut)[] => rs.filter((r) => r.kind === 'dns') as (DnsLogRecord & AppRecordOut)[];
const http = (rs: AppRecordOut[]): (HttpLogRecord & AppRecordOut)[] => rs.filter((r) => r.kind === 'http') as (HttpLogRecord & AppRecordOut)[];
const tls = (rs: AppRecordOut[]): (TlsLogRecord & AppRecordOut)[] => rs.filter((r) => r.kind === 'tls') as (TlsLogRecord & AppRecordOut)[];

describe('protocols: Zeek details of dns.log', () => {
  before(function () {
    requireCorpus(this);
  });

  it('renders DNSSEC records as Zeek: DNSKEY <algorithm>, RRSIG <type covered> <signer>, DS <algorithm> <digest type>', async () => {
    const [k] = dns(await app('zeek/dnssec/dnskey.pcap')).filter((r) => r.answers !== null);
    assert.deepEqual(k.answers, ['DNSKEY 5', 'DNSKEY 5', 'DNSKEY 5', 'RRSIG 48 upenn.edu', 'RRSIG 48 upenn.edu']);
    const [d] = dns(await app('zeek/dnssec/ds.pcap')).filter((r) => r.answers !== null);
    assert.deepEqual(d.answers, ['DS 5 1', 'DS 5 2', 'RRSIG 43 edu']);
    const [n] = dns(await app('zeek/dnssec/nsec.pcap')).filter((r) => r.answers !== null);
    assert.deepEqual(n.answers, ['www.upenn.edgekey.net', 'RRSIG 5 upenn.edu']);
  });

  it('names BIND 9 signing records (type 65534) and logs nothing of TKEY', async () => {
    const [b] = dns(await app('zeek/dns/dns-binds.pcap')).filter((r) => r.answers !== null);
    assert.equal(b.answers!.length, 16);
    assert.ok(b.answers!.every((a) => a === 'BIND9 signing signal'));
    const t = dns(await app('zeek/dns/tkey.pcap'));
    assert.ok(t.length > 0);
    assert.ok(t.every((r) => r.answers === null && r.TTLs === null));
  });

  it('notify and lone responses as zeek/dns/dns_notify2.pcap baseline: opcode names, Zeek query type names, unset question of a response alone', async () => {
    const rs = dns(await app('zeek/dns/dns_notify2.pcap'));
    const notify = rs.find((r) => r.trans_id === 20785)!;
    assert.deepEqual(
      [notify.query, notify.qtype_name, notify.rcode_name, notify.rejected, notify.opcode, notify.opcode_name],
      ['dhcp.lbnl.us', 'SOA', 'REFUSED', true, 4, 'notify'],
    );
    const nxt = rs.find((r) => r.trans_id === 52281)!;
    assert.deepEqual([nxt.query, nxt.qtype_name, nxt.Z, nxt.rcode], ['_acme-challenge.intmail.cbs.mpg.de', 'NXT', 1, null]);
    // A response without its query and without answer-section records: query, qtype and AA unset.
    const lone = rs.find((r) => r.trans_id === 29661)!;
    assert.deepEqual([lone.query, lone.qtype, lone.rcode_name, lone.AA, lone.rtt, lone.rejected], [null, null, 'NOERROR', false, null, false]);
  });

  it('writes opcode and opcode_name, and NetBIOS names decoded on port 137 (RFC 1001 14.1)', () => {
    assert.equal(decodeNetbiosName('EGFCEFEECACACACACACACACACACACACA'), 'FRED');
    assert.equal(decodeNetbiosName('FEEIEFCAEOEFFEECEJEPFDCAEOEBENEF'), 'THE NETBIOS NAM');
    assert.equal(decodeNetbiosName('egfcefeecacacacacacacacacacacaca'), 'FRED');
    assert.equal(decodeNetbiosName('EGFCEFEE'), '');
    assert.equal(decodeNetbiosName('ZZFCEFEECACACACACACACACACACACACA'), '');
    const rec = {
      kind: 'dns',
      ts: 1,
      proto: 'udp',
      trans_id: 1,
      rtt: null,
      query: 'egfcefeecacacacacacacacacacacaca',
      qclass: 1,
      qclass_name: 'C_INTERNET',
      qtype: 32,
      qtype_name: 'NIMLOC',
      rcode: null,
      rcode_name: null,
      AA: false,
      TC: false,
      RD: false,
      RA: false,
      Z: 0,
      answers: null,
      TTLs: null,
      rejected: false,
      opcode: 5,
      opcode_name: 'dynamic-update',
      rrs: [],
      uid: 'C1',
      conn: { uid: 'C1', proto: 'udp', orig_h: '10.0.0.1', orig_p: 137, resp_h: '10.0.0.255', resp_p: 137, ts: 1 },
    } as AppRecordOut;
    const z = zeekAppJson(rec);
    assert.deepEqual([z.query, z.opcode, z.opcode_name], ['FRED', 5, 'netbios-registration']);
  });

  it('SSHFP, LOC and SPF rdata in Zeek rendering (RFC 4255, RFC 1876, RFC 7208 wire forms)', () => {
    // Response with one question (example.com A) and three answers pointing at it (0xc00c).
    const q = Buffer.from('076578616d706c6503636f6d0000010001', 'hex');
    const rr = (type: number, rdata: Buffer): Buffer => {
      const h = Buffer.alloc(12);
      h.writeUInt16BE(0xc00c, 0);
      h.writeUInt16BE(type, 2);
      h.writeUInt16BE(1, 4);
      h.writeUInt32BE(300, 6);
      h.writeUInt16BE(rdata.length, 10);
      return Buffer.concat([h, rdata]);
    };
    const sshfp = rr(44, Buffer.from('0101123456789abcdef0', 'hex'));
    const loc = rr(29, Buffer.from('00121613' + '8b0d2c8c' + '7f5f6e30' + '00989680', 'hex'));
    const spf = rr(99, Buffer.concat([Buffer.from([9]), Buffer.from('v=spf1 -a')]));
    const head = Buffer.from('123481800001000300000000', 'hex');
    const msg = Buffer.concat([head, q, sshfp, loc, spf]);
    const r = parseDnsMessage(msg, 0, msg.length);
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.deepEqual(
      r.msg.rrs.map((x) => x.data),
      ['SSHFP: 123456789abcdef0', 'LOC:  18 22 19', 'SPF 9 v=spf1 -a'],
    );
  });
});

describe('protocols: Zeek details of ssl.log', () => {
  it('names versions, ciphers, groups and alerts from the IANA registries as Zeek does', () => {
    assert.equal(versionName(0x7f17), 'TLSv13-draft23');
    assert.equal(versionName(0x7f12), 'TLSv13-draft18');
    assert.equal(versionName(0x0304), 'TLSv13');
    assert.equal(versionName(0xfefd), 'DTLSv12');
    assert.equal(versionName(0x7e01), 'unknown-32257');
    assert.equal(cipherName(0xc02f), 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
    assert.equal(cipherName(0x0017), 'TLS_DH_ANON_EXPORT_WITH_RC4_40_MD5');
    assert.equal(cipherName(0xcc13), 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256_OLD');
    assert.equal(cipherName(0xc0aa), 'TLS_PSK_DHE_WITH_AES_128_CCM_8');
    assert.equal(cipherName(0x1305), 'TLS_AES_128_CCM_8_SHA256');
    assert.equal(cipherName(0x00ff), 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV');
    assert.equal(cipherName(0xfefe), 'SSL_RSA_FIPS_WITH_DES_CBC_SHA');
    assert.equal(cipherName(0xe011), 'unknown-57361');
    assert.equal(groupName(29), 'x25519');
    assert.equal(groupName(4588), 'X25519MLKEM768');
    assert.equal(alertName(40), 'handshake_failure');
  });

  describe('corpus', () => {
    before(function () {
      requireCorpus(this);
    });

    // Values from the ssl.log baselines beside each capture.
    const cases: [string, string, string, string | null, string, string | null][] = [
      ['zeek/tls/smtp-starttls.pcap', 'TLSv12', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', null, 'CsxknGIti', 'secp256r1'],
      ['zeek/ldap/ldap-starttls.pcap', 'TLSv13', 'TLS_AES_256_GCM_SHA384', 'ubuntu-01.example.com', 'CsiI', 'secp256r1'],
      ['zeek/tls/irc-starttls.pcap', 'TLSv12', 'TLS_RSA_WITH_AES_256_GCM_SHA384', null, 'CsxrnXGIti', null],
      ['zeek/rdp/rdp-to-ssl.pcap', 'TLSv10', 'TLS_RSA_WITH_AES_128_CBC_SHA', '192.168.1.150', 'CsxnGIi', null],
      ['zeek/tls/tls13draft23-chrome67.0.3368.0-canary.pcap', 'TLSv13-draft23', 'TLS_AES_128_GCM_SHA256', null, 'CsiI', 'x25519'],
      ['zeek/tls/tls-1.2-handshake-failure.pcap', '', '', null, 'Cl', null],
    ];
    for (const [capture, version, cipher, sni, history, curve] of cases) {
      it(`${capture}: version, cipher, SNI, ssl_history and curve as Zeek's baseline`, async () => {
        const [t] = tls(await app(capture));
        assert.ok(t !== undefined, 'no ssl record');
        assert.equal(t.version ?? '', version);
        assert.equal(t.cipher ?? '', cipher);
        if (sni !== null) assert.equal(t.server_name, sni);
        assert.equal(t.ssl_history, history);
        assert.equal(t.curve, curve);
      });
    }

    it('STARTTLS over SMTP: established, the server chain fingerprinted (SHA-256 of the DER, the baseline cert_chain_fps)', async () => {
      const [t] = tls(await app('zeek/tls/smtp-starttls.pcap'));
      assert.equal(t.established, true);
      assert.equal(t.cert_chain_fps![0], '4f0a1ac1c6e873c8805fe2fc56c7aac77025f1dcbbbf907e768f1ec88c3485db');
      assert.deepEqual(t.client_cert_chain_fps, []);
      assert.equal(t.last_alert, null);
    });

    it('handshake failure: last_alert from the cleartext alert, no certificate', async () => {
      const [t] = tls(await app('zeek/tls/tls-1.2-handshake-failure.pcap'));
      assert.deepEqual([t.last_alert, t.established, t.cert_chain_fps], ['handshake_failure', false, null]);
    });

    it('DTLS among STUN on one UDP flow (dtls-stun-dpd baseline): the responder is the DTLS client (^), both chains, established', async () => {
      const rs = await app('zeek/tls/webrtc-stun.pcap');
      const [t] = tls(rs);
      assert.ok(t !== undefined, 'no ssl record');
      assert.deepEqual(
        [t.conn.orig_h, t.conn.resp_p, t.version, t.cipher, t.curve, t.server_name, t.established, t.ssl_history, t.subject, t.issuer],
        ['192.168.6.82', 43044, 'DTLSv10', 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA', 'secp256r1', null, true, '^CsxkrnXGYIi', 'CN=a', 'CN=a'],
      );
      assert.deepEqual(t.cert_chain_fps, ['968126882d68eb80b03392edb9cce7260eec15a04b206ddfb5231449b5aaaa2f']);
      assert.deepEqual(t.client_cert_chain_fps, ['d0f7ee6396c98da4e74888006af667bfeaecc8cd1babb67e900558a9bd649b9f']);
      assert.ok(t.ja4!.startsWith('dd1i'), t.ja4!);
    });

    it('a DTLS analyzer ignores STUN and rejects a first DTLS record that is not a handshake', () => {
      const m = new AnalyzerMux('udp', () => undefined, {});
      const stun = Buffer.from('000100082112a442000000000000000000000000c05700040001000a', 'hex');
      m.data(true, stun, 0, stun.length, 1);
      assert.equal(m.confirmed, null);
      // Application data (type 23), DTLS 1.0, epoch 1, 2 bytes.
      const app23 = Buffer.from('17feff0001000000000001000201ff', 'hex');
      m.data(false, app23, 0, app23.length, 2);
      assert.equal(m.done, true);
      assert.deepEqual(
        m.issues.map((i) => [i.analyzer, i.code]),
        [['dtls', 'tls-not-handshake']],
      );
    });

    it('sni_matches_cert: the SNI against the leaf certificate names (T in the tls-conn-with-extensions baseline)', async () => {
      const [t] = tls(await app('zeek/tls/tls-conn-with-extensions.pcap'));
      assert.equal(t.server_name, 'ssl.gstatic.com');
      assert.equal(t.sni_matches_cert, true);
    });
  });
});

describe('protocols: Zeek details of http.log', () => {
  it("unescapes URIs as Zeek's unescape_URI", () => {
    assert.equal(unescapeUri('/a%20b'), '/a b');
    assert.equal(unescapeUri('/%u0041%u00e9'), '/A\u00e9');
    assert.equal(unescapeUri('/%%41'), '/A');
    assert.equal(unescapeUri('/%zz'), '/%zz');
    assert.equal(unescapeUri('/x%'), '/x%');
    assert.equal(unescapeUri('/x%4'), '/x%4');
    assert.equal(unescapeUri('/plain'), '/plain');
  });

  describe('corpus', () => {
    before(function () {
      requireCorpus(this);
    });

    for (const v of ['03-cl_negative', '04-te_cl_desync', '08-leading_zeros', '09-te_obs_fold', '10-multi_value_te']) {
      it(`request smuggling variant ${v}: the request inside the body is logged as Zeek logs it`, async () => {
        const dir = 'zeek/http/261/';
        const base = readdirSync(corpusPath(dir)).find((f) => f.startsWith(`variant-${v}.pcap.`) && f.endsWith('.http.log'))!;
        const rows = readFileSync(corpusPath(dir + base), 'utf8')
          .split('\n')
          .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('uid'))
          .map((l) => l.split('\t').slice(1, 5).join(' '))
          .sort();
        const ours = http(await app(`${dir}variant-${v}.pcap`))
          .map((h) => [h.trans_depth, h.method, h.host, h.uri].join(' '))
          .sort();
        assert.deepEqual(ours, rows);
      });
    }

    it('x-gzip: the response body length after decompression (19 in the baseline, 39 on the wire)', async () => {
      const [h] = http(await app('zeek/http/x-gzip.pcap'));
      assert.equal(h.response_body_len, 19);
    });

    it('HTTP/0.9: a request line without version and its header-less response (no-version baseline)', async () => {
      const [h, empty] = http(await app('zeek/http/no-version.pcap'));
      assert.deepEqual([h.trans_depth, h.method, h.version, h.status_code, h.status_msg, h.response_body_len], [1, 'GET', '0.9', 0, '<empty>', 323]);
      // The request message ends with the client's FIN, after the server closed and the transaction
      // was logged: Zeek logs a second, empty one (trans_depth 2, both body lengths 0).
      assert.ok(empty !== undefined, 'no second record');
      assert.deepEqual(
        [empty.trans_depth, empty.method, empty.uri, empty.version, empty.status_code, empty.request_body_len, empty.response_body_len],
        [2, null, null, null, null, 0, 0],
      );
      assert.equal(empty.ts, 1036020209.803357);
    });

    it('a garbled request on port 80: the response is logged without method (http-bad-request-with-version baseline)', async () => {
      const [h] = http(await app('zeek/http/http-bad-request-with-version.pcap'));
      assert.deepEqual([h.method, h.uri, h.version, h.status_code, h.request_body_len, h.response_body_len], [null, null, '1.1', 200, 0, 14]);
    });

    it("'GET HTTP/1.1': an empty URI and version 1.1 (no-uri baseline); Basic auth user and Content-Disposition file name", async () => {
      const [h] = http(await app('zeek/http/no-uri.pcap'));
      assert.deepEqual([h.uri, h.version, h.host], ['', '1.1', 'bro.org']);
      const [a] = http(await app('zeek/http/basic-auth-with-colon.pcap'));
      assert.equal(a.username, 'test');
      const [f] = http(await app('zeek/http/http-filename.pcap'));
      assert.deepEqual(f.resp_filenames, ['test.json']);
      assert.equal(f.uri, '/response-headers?Content-Type=application/octet-stream; charset=UTF-8&Content-Disposition=attachment; filename="test.json"');
    });
  });
});

describe('protocols: STARTTLS hands the stream to TLS', () => {
  // A minimal TLS 1.2 ClientHello (one suite, no extensions), RFC 5246 7.4.1.2.
  const body = Buffer.concat([Buffer.from('0303', 'hex'), Buffer.alloc(32, 7), Buffer.from('00' + '0002c02f' + '0100', 'hex')]);
  const hs = Buffer.concat([Buffer.from([1, 0, 0, body.length]), body]);
  const hello = Buffer.concat([Buffer.from([22, 3, 1, 0, hs.length]), hs]);

  const exchanges: [string, [boolean, string][], number?][] = [
    [
      'smtp',
      [
        [false, '220 mx ESMTP\r\n'],
        [true, 'EHLO me\r\n'],
        [false, '250-mx\r\n250 STARTTLS\r\n'],
        [true, 'STARTTLS\r\n'],
        [false, '220 2.0.0 go ahead\r\n'],
      ],
    ],
    [
      'imap',
      [
        [false, '* OK IMAP4rev1 ready\r\n'],
        [true, 'a1 STARTTLS\r\n'],
        [false, 'a1 OK Begin TLS negotiation now\r\n'],
      ],
    ],
    [
      'pop3',
      [
        [false, '+OK POP3 ready\r\n'],
        [true, 'STLS\r\n'],
        [false, '+OK Begin TLS\r\n'],
      ],
    ],
    [
      'ftp',
      [
        [false, '220 FTP ready\r\n'],
        [true, 'AUTH TLS\r\n'],
        [false, '234 AUTH TLS successful\r\n'],
      ],
    ],
    [
      'xmpp',
      [
        [true, "<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client'>"],
        [false, "<stream:stream from='example.com'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"],
        [true, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"],
        [false, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"],
      ],
    ],
    [
      'irc',
      [
        [true, 'CAP LS 302\r\n'],
        [true, 'STARTTLS\r\n'],
        [false, ':irc.example 670 * :STARTTLS successful\r\n'],
      ],
    ],
  ];
  for (const [name, lines] of exchanges) {
    it(`${name}: the plaintext protocol is named, the ClientHello after the accepted upgrade confirms TLS`, () => {
      const mux = new AnalyzerMux('tcp', () => undefined);
      let ts = 1;
      for (const [orig, text] of lines) {
        const b = Buffer.from(text, 'latin1');
        mux.data(orig, b, 0, b.length, ts++);
      }
      mux.data(true, hello, 0, hello.length, ts);
      assert.deepEqual(mux.services, [name, 'ssl']);
    });
  }

  it('postgresql: SSLRequest answered S; mysql: SSL request after a greeting with CLIENT_SSL', () => {
    const pg = new AnalyzerMux('tcp', () => undefined);
    const sslReq = Buffer.from('0000000804d2162f', 'hex');
    pg.data(true, sslReq, 0, 8, 1);
    pg.data(false, Buffer.from('S'), 0, 1, 2);
    pg.data(true, hello, 0, hello.length, 3);
    assert.deepEqual(pg.services, ['postgresql', 'ssl']);

    const my = new AnalyzerMux('tcp', () => undefined);
    const version = Buffer.from('8.0.36\0', 'latin1');
    const greetBody = Buffer.concat([Buffer.from([10]), version, Buffer.alloc(4), Buffer.alloc(9), Buffer.from([0xff, 0xff]), Buffer.alloc(16)]);
    const greet = Buffer.concat([Buffer.from([greetBody.length, 0, 0, 0]), greetBody]);
    my.data(false, greet, 0, greet.length, 1);
    const sslBody = Buffer.alloc(32);
    sslBody.writeUInt32LE(0x0800 | 0x0200 | 0x8000, 0);
    const ssl = Buffer.concat([Buffer.from([32, 0, 0, 1]), sslBody]);
    my.data(true, Buffer.concat([ssl, hello]), 0, ssl.length + hello.length, 2);
    assert.deepEqual(my.services, ['mysql', 'ssl']);
  });
});
