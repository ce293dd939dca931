/**
 * Syslog over TCP (RFC 6587) as Zeek's Syslog_TCP analyzer reads it: octet-counted and
 * non-transparent frames, attached by port 514/tcp only. The frames are those of the corpus's
 * zeek/tcp-syslog.pcap, whose Zeek conn.log (scripts.base.protocols.syslog.tcp-framing) gives
 * `syslog_tcp ShADFf 0.001719 8 2`.
 */
import { strict as assert } from 'node:assert';
import { SyslogTcpAnalyzer } from '../../parsers/protocols/syslog';
import { AnalyzerMux, selectAnalyzers } from '../../parsers/protocols/mux';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory } from '../../src/analyze/app';
import type { ConnRecord } from '../../parsers/record/conn';
import { collector, feedSplit } from './helpers';
import { corpusPath, requireCorpus } from '../util/corpus';

/** The four payloads of tcp-syslog.pcap, in order: octet counting (its message ends in a space), non-transparent, twice. */
const SEGMENTS = [
  "51 <13>Oct 11 22:14:15 mymachine su: 'su root' failed ",
  "<14>Oct 11 22:14:16 mymachine su: 'su root' failed\n",
  "50 <15>Oct 11 22:14:17 mymachine su: 'su bob' failed ",
  "<16>Oct 11 22:14:18 mymachine su: 'su bob' failed\n",
].map((s) => Buffer.from(s, 'latin1'));

function run(chunks: Buffer[], isOrig = true): SyslogTcpAnalyzer {
  const a = new SyslogTcpAnalyzer(collector('tcp').opts);
  for (const c of chunks) a.data(isOrig, c, 0, c.length, 1);
  a.endOfDirection(isOrig, 2);
  return a;
}

describe('protocols/syslog (syslog over TCP)', () => {
  it('reads the capture’s mixed framing: 2 octet-counted and 2 non-transparent messages', () => {
    assert.equal(SEGMENTS.map((b) => b.length).join(','), '54,51,53,50');
    const a = run(SEGMENTS);
    assert.equal(a.state, 'confirmed');
    assert.deepEqual(a.messages, { orig: 4, resp: 0 });
    assert.equal(a.violations, 0);
  });

  it('frames the same bytes whatever the segment boundaries', () => {
    const all = Buffer.concat(SEGMENTS);
    for (const cuts of [[1], [2, 3, 4], [53, 54, 55], [104, 105], Array.from({ length: all.length }, (_, i) => i)]) {
      const a = new SyslogTcpAnalyzer(collector('tcp').opts);
      feedSplit(a, true, all, cuts, 1);
      assert.deepEqual(a.messages, { orig: 4, resp: 0 }, cuts.join(','));
    }
  });

  it('an octet-counted frame confirms only once all its bytes arrived', () => {
    const a = new SyslogTcpAnalyzer(collector('tcp').opts);
    a.data(true, SEGMENTS[0], 0, SEGMENTS[0].length - 1, 1);
    assert.equal(a.state, 'probing');
    a.data(true, SEGMENTS[0], SEGMENTS[0].length - 1, 1, 1);
    assert.equal(a.state, 'confirmed');
  });

  it('runs of CR, LF and NUL end a non-transparent frame; a bare message without priority, a zero length or garbage is rejected', () => {
    assert.deepEqual(run([Buffer.from('<34>one\r\n\n<35>two\x00\n')]).messages, { orig: 2, resp: 0 });
    assert.deepEqual(run([Buffer.from('3 abc')]).messages, { orig: 1, resp: 0 }, 'octet counting without priority');
    for (const bad of ['Oct 11 22:14:15 no priority\n', '0 <13>x', '<>x\n', '<13>\n', '12x<13>', 'GET / HTTP/1.1\r\n']) {
      const a = run([Buffer.from(bad)]);
      assert.equal(a.state, 'rejected', JSON.stringify(bad));
    }
  });

  it('after confirmation a malformed frame is a violation and ends that direction', () => {
    const a = run([SEGMENTS[1], Buffer.from('junk\n'), SEGMENTS[3]]);
    assert.equal(a.state, 'confirmed');
    assert.equal(a.violations, 1);
    assert.deepEqual(a.messages, { orig: 1, resp: 0 });
    const cut = run([SEGMENTS[1], Buffer.from('60 <13>short')]);
    assert.equal(cut.violations, 1, 'the stream ends inside a frame');
  });

  it('is attached on 514/tcp only, and only when chosen with --analyzers syslog', () => {
    const services = (respPort: number, opts = {}): readonly string[] => {
      const m = new AnalyzerMux('tcp', () => undefined, { respPort, ...opts });
      for (const s of SEGMENTS) m.data(true, s, 0, s.length, 1);
      m.end(2);
      return m.services;
    };
    assert.deepEqual(services(514), ['syslog_tcp']);
    assert.deepEqual(services(1514), []);
    assert.deepEqual(services(514, selectAnalyzers(['syslog'])), ['syslog_tcp']);
    assert.deepEqual(services(514, selectAnalyzers(['http'])), []);
  });

  it('tcp-syslog.pcap: service syslog_tcp, history ShADFf, 8 and 2 packets (Zeek tcp-framing conn.log)', async function () {
    requireCorpus(this);
    const conns: ConnRecord[] = [];
    const res = await analyzeFile(corpusPath('zeek/tcp-syslog.pcap'), (r) => (r.interim ? undefined : conns.push(r)), {
      tracker: { payload: analyzerFactory(() => undefined, selectAnalyzers(['syslog'])) },
    });
    assert.equal(res.error, null);
    assert.equal(conns.length, 1);
    const c = conns[0];
    assert.deepEqual([c.service, c.history, c.duration.toFixed(6), c.orig_pkts, c.resp_pkts], [['syslog_tcp'], 'ShADFf', '0.001719', 8, 2]);
  });
});
