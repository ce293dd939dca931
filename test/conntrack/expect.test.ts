/**
 * Expected connections (parsers/conntrack/expect.ts): FTP's PORT / EPRT / PASV / EPSV and IRC's
 * DCC SEND announce a data connection, which gets ftp-data / irc-dcc-data as in Zeek's scripts.
 * Values from zeek/ftp/ipv4.pcap, zeek/ftp/ipv6.pcap and zeek/irc-dcc-send.pcapng, whose Zeek
 * conn.log baselines these reproduce; the threaded merge's deferred matching gives the same.
 */
import { strict as assert } from 'node:assert';
import { type Expectation, ExpectationTable } from '../../parsers/conntrack/expect';
import { AnalyzerMux, selectAnalyzers } from '../../parsers/protocols/mux';
import type { AnnouncedConnection } from '../../parsers/protocols/analyzer';
import { parseFtpEprt, parseFtpEpsv, parseFtpPasv, parseFtpPort } from '../../parsers/protocols/starttls';
import type { ConnRecord } from '../../parsers/record/conn';
import { analyzeFile } from '../../src/analyze/pipeline';
import { ExpectedResolver, analyzerFactory } from '../../src/analyze/app';
import { corpusPath, requireCorpus } from '../util/corpus';

// zeek/ftp/ipv4.pcap: control 141.142.220.235:50003 -> 199.233.217.249:21.
const CLIENT4 = '141.142.220.235';
const SERVER4 = '199.233.217.249';
// zeek/ftp/ipv6.pcap: control 2001:470:1f11:81f:c999:d94:aa7c:2e3e:49185 -> 2001:470:4867:99::21:21.
const CLIENT6 = '2001:470:1f11:81f:c999:d94:aa7c:2e3e';
const SERVER6 = '2001:470:4867:99::21';

describe('FTP data channel addresses (as Zeek parses them)', () => {
  it('reads PORT and the 227 reply of zeek/ftp/ipv4.pcap', () => {
    assert.deepEqual(parseFtpPort('141,142,220,235,131,46'), { h: CLIENT4, p: 33582 });
    assert.deepEqual(parseFtpPort('141,142,220,235,147,203'), { h: CLIENT4, p: 37835 });
    assert.deepEqual(parseFtpPasv('Entering Passive Mode (199,233,217,249,221,90)'), { h: SERVER4, p: 56666 });
    assert.deepEqual(parseFtpPasv('Entering Passive Mode (199,233,217,249,221,91)'), { h: SERVER4, p: 56667 });
    // Without parentheses: the digits before the first comma (Zeek's parse_ftp_pasv).
    assert.deepEqual(parseFtpPasv('Entering Passive Mode 10,0,0,1,4,1'), { h: '10.0.0.1', p: 1025 });
    assert.equal(parseFtpPasv('Entering Passive Mode (300,1,1,1,1,1)'), null);
    assert.equal(parseFtpPort('garbage'), null);
  });

  it('reads EPRT and the 229 reply of zeek/ftp/ipv6.pcap, addresses as conn.log prints them', () => {
    assert.deepEqual(parseFtpEprt(`|2|${CLIENT6}|49189|`), { h: CLIENT6, p: 49189 });
    assert.deepEqual(parseFtpEprt('|2|2001:0470:1f11:081f:c999:0d94:aa7c:2e3e|49190|'), { h: CLIENT6, p: 49190 });
    assert.deepEqual(parseFtpEprt('|1|132.235.1.2|6275|'), { h: '132.235.1.2', p: 6275 });
    // 229 names no host: the control connection's server.
    assert.deepEqual(parseFtpEpsv('Entering Extended Passive Mode (|||57086|)'), { h: null, p: 57086 });
    assert.equal(parseFtpEprt('|2|not-an-address|1|'), null);
    assert.equal(parseFtpEpsv('Entering Extended Passive Mode (|||70000|)'), null);
  });
});

describe('ExpectationTable', () => {
  const at = (g: number) => ({ g, phase: 1 });
  const pasv: Expectation = { orig_h: CLIENT4, resp_h: SERVER4, resp_p: 56666, service: 'ftp-data', ts: 1000 };
  const data = { proto: 'tcp', orig_h: CLIENT4, resp_h: SERVER4, resp_p: 56666, ts: 1001 };

  it('gives the service to the connection announced, from its announced opener, for 5 minutes', () => {
    const t = new ExpectationTable();
    assert.deepEqual(t.match(data), []);
    t.add(pasv, at(10));
    assert.deepEqual(t.match(data), ['ftp-data']);
    assert.deepEqual(t.match({ ...data, orig_h: '10.9.9.9' }), [], 'another opener');
    assert.deepEqual(t.match({ ...data, resp_p: 56667 }), [], 'another port');
    assert.deepEqual(t.match({ ...data, proto: 'udp' }), [], 'UDP is never announced');
    assert.deepEqual(t.match({ ...data, ts: 1000 + 299 }), ['ftp-data']);
    assert.deepEqual(t.match({ ...data, ts: 1000 + 300 }), [], 'expired');
  });

  it('anyone may open a DCC transfer (zeek/irc-dcc-send.pcapng: DCC SEND 167772167 59130)', () => {
    const t = new ExpectationTable();
    t.add({ orig_h: null, resp_h: '10.0.0.7', resp_p: 59130, service: 'irc-dcc-data', ts: 5 }, at(1));
    assert.deepEqual(t.match({ proto: 'tcp', orig_h: '10.0.0.22', resp_h: '10.0.0.7', resp_p: 59130, ts: 6 }), ['irc-dcc-data']);
    // The DCC CHAT offer (port 59214) announces nothing.
    assert.deepEqual(t.match({ proto: 'tcp', orig_h: '10.0.0.22', resp_h: '10.0.0.7', resp_p: 59214, ts: 6 }), []);
  });

  it('the end of a connection that got the service takes the entry away until announced again', () => {
    const t = new ExpectationTable();
    t.add(pasv, at(10));
    t.ended(data, ['ftp-data'], at(20));
    assert.deepEqual(t.match(data), []);
    // As it stood before the end (the threaded merge asks for a connection that began then).
    assert.deepEqual(t.match(data, at(15)), ['ftp-data']);
    assert.deepEqual(t.match(data, at(10)), [], 'not yet announced');
    t.add({ ...pasv, ts: 1100 }, at(30));
    assert.deepEqual(t.match({ ...data, ts: 1101 }), ['ftp-data']);
  });

  it('rejects a bad responder port, naming it', () => {
    assert.throws(() => new ExpectationTable().add({ ...pasv, resp_p: 70000 }, at(1)), /ftp-data: bad responder 199\.233\.217\.249:70000/);
  });
});

describe('announcements from the FTP and IRC analyzers', () => {
  function announced(lines: [boolean, string][], starttls?: string): AnnouncedConnection[] {
    const out: AnnouncedConnection[] = [];
    const m = new AnalyzerMux('tcp', () => {}, { announce: (a) => out.push(a), ...(starttls ? selectAnalyzers([starttls]) : {}) });
    let ts = 1;
    for (const [isOrig, l] of lines) m.data(isOrig, Buffer.from(l, 'latin1'), 0, l.length, ts++);
    return out;
  }

  it('FTP: PORT from the client (the server opens), 227 to PASV (the client opens)', () => {
    const out = announced([
      [false, '220 ftp.example ready\r\n'],
      [true, 'USER anonymous\r\n'],
      [false, '331 Guest login ok\r\n'],
      [true, 'PASV\r\n'],
      [false, '227 Entering Passive Mode (199,233,217,249,221,90)\r\n'],
      [true, 'PORT 141,142,220,235,131,46\r\n'],
      [false, '200 PORT command successful.\r\n'],
      // A 227 nobody asked for announces nothing.
      [false, '227 Entering Passive Mode (199,233,217,249,221,91)\r\n'],
    ]);
    assert.deepEqual(
      out.map((a) => [a.opener, a.resp_h, a.resp_p, a.service]),
      [
        ['orig', SERVER4, 56666, 'ftp-data'],
        ['resp', CLIENT4, 33582, 'ftp-data'],
      ],
    );
  });

  it('IRC: a DCC SEND offer in a PRIVMSG, not a DCC CHAT', () => {
    const out = announced([
      [false, ':irc.example NOTICE * :*** Looking up your hostname...\r\n'],
      [true, 'NICK tim\r\n'],
      [true, 'PRIVMSG tim1 :\x01DCC SEND ssh.trace 167772167 59130 1320211\x01\r\n'],
      [true, 'PRIVMSG tim1 :\x01DCC CHAT CHAT 167772167 59214\x01\r\n'],
    ]);
    assert.deepEqual(
      out.map((a) => [a.opener, a.resp_h, a.resp_p, a.service]),
      [[null, '10.0.0.7', 59130, 'irc-dcc-data']],
    );
  });
});

describe('ftp-data and irc-dcc-data on the real captures (../shared/corpus)', () => {
  async function services(rel: string, analyzers: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const res = await analyzeFile(corpusPath(rel), (r: ConnRecord) => out.set(`${r.orig_h}|${r.orig_p}|${r.resp_h}|${r.resp_p}`, r.service.join(',')), {
      tracker: { payload: analyzerFactory(() => {}, selectAnalyzers(analyzers)), verifyChecksums: true },
    });
    assert.equal(res.error, null);
    return out;
  }

  it('zeek/ftp/ipv4.pcap: two passive and two active transfers', async function () {
    requireCorpus(this);
    const s = await services('zeek/ftp/ipv4.pcap', ['ftp']);
    assert.equal(s.get(`${CLIENT4}|50003|${SERVER4}|21`), 'ftp');
    assert.equal(s.get(`${CLIENT4}|37604|${SERVER4}|56666`), 'ftp-data');
    assert.equal(s.get(`${CLIENT4}|59378|${SERVER4}|56667`), 'ftp-data');
    assert.equal(s.get(`${SERVER4}|61920|${CLIENT4}|33582`), 'ftp-data');
    assert.equal(s.get(`${SERVER4}|61918|${CLIENT4}|37835`), 'ftp-data');
  });

  it('zeek/ftp/ipv6.pcap: EPSV and EPRT', async function () {
    requireCorpus(this);
    const s = await services('zeek/ftp/ipv6.pcap', ['ftp']);
    for (const p of [57086, 57087, 57088]) assert.match(s.get(`${CLIENT6}|${p - 7900}|${SERVER6}|${p}`) ?? 'missing', /^ftp-data$/);
    assert.equal(s.get(`${SERVER6}|55785|${CLIENT6}|49189`), 'ftp-data');
    assert.equal(s.get(`${SERVER6}|55647|${CLIENT6}|49190`), 'ftp-data');
  });

  it('zeek/irc-dcc-send.pcapng: the DCC SEND transfer, not the DCC CHAT', async function () {
    requireCorpus(this);
    const s = await services('zeek/irc-dcc-send.pcapng', ['irc']);
    assert.equal(s.get('10.0.0.7|59069|10.0.0.22|6667'), 'irc');
    assert.equal(s.get('10.0.0.22|43614|10.0.0.7|59130'), 'irc-dcc-data');
    assert.equal(s.get('10.0.0.22|38016|10.0.0.7|59214'), '');
  });
});

describe('ExpectedResolver (the threaded merge)', () => {
  it('matches a record where its connection began, not where it came out', () => {
    const r = new ExpectedResolver();
    const rec = (uid: string, interim = false) =>
      ({ uid, proto: 'tcp', orig_h: CLIENT4, orig_p: 37604, resp_h: SERVER4, resp_p: 56666, ts: 1001, interim, service: ['x'] }) as unknown as ConnRecord;
    r.announce({ orig_h: CLIENT4, resp_h: SERVER4, resp_p: 56666, service: 'ftp-data', ts: 1000 }, { g: 5, phase: 1 });
    const first = rec('a');
    r.record(first, { g: 6, phase: 1 }, { g: 40, phase: 1 });
    assert.deepEqual(first.service, ['ftp-data', 'x']);
    // Began before the first one ended: still expected. Began after: the entry was gone.
    const overlapping = rec('b');
    r.record(overlapping, { g: 30, phase: 1 }, { g: 50, phase: 1 });
    assert.deepEqual(overlapping.service, ['ftp-data', 'x']);
    const later = rec('c');
    r.record(later, { g: 60, phase: 1 }, { g: 70, phase: 1 });
    assert.deepEqual(later.service, ['x']);
  });
});
