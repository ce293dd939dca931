/**
 * `analyze --analyzers`: only the analyzers named run, as Zeek in bare mode (`zeek -b`) runs only
 * those whose scripts it loaded. Checked on corpus captures against the service Zeek's bare runs
 * logged for them.
 */
import { strict as assert } from 'node:assert';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory } from '../../src/analyze/app';
import { ANALYZER_NAMES, type MuxOptions, selectAnalyzers } from '../../parsers/protocols/mux';
import type { ConnRecord } from '../../parsers/record/conn';
import type { AppRecordOut } from '../../parsers/record/app';
import { corpusPath, requireCorpus } from '../util/corpus';

async function analyse(rel: string, opts: MuxOptions): Promise<{ conns: ConnRecord[]; apps: AppRecordOut[] }> {
  const conns: ConnRecord[] = [];
  const apps: AppRecordOut[] = [];
  const res = await analyzeFile(corpusPath(rel), (r) => conns.push(r), { tracker: { payload: analyzerFactory((r) => apps.push(r), opts) } });
  assert.equal(res.error, null);
  return { conns: conns.filter((c) => !c.interim), apps };
}

describe('choosing the protocol analyzers (analyze --analyzers)', () => {
  it('names the analyzers it knows, STARTTLS protocols one by one, and refuses any other name', () => {
    for (const n of ['dns', 'http', 'tls', 'quic', 'ssh', 'redis', 'smtp', 'imap', 'pop3', 'ftp', 'xmpp', 'irc', 'ldap', 'rdp'])
      assert.ok(ANALYZER_NAMES.includes(n), n);
    assert.equal(ANALYZER_NAMES.includes('starttls'), false);
    assert.throws(() => selectAnalyzers(['dns', 'ssl']), /unknown analyzer "ssl" \(known: dns, http/);
    const s = selectAnalyzers(['dns', 'ftp', 'ldap']);
    assert.deepEqual(
      s.factories?.map((f) => f.name),
      ['dns', 'starttls'],
    );
    assert.deepEqual([...(s.startTlsProtocols ?? [])], ['ftp', 'ldap_tcp']);
    assert.deepEqual(selectAnalyzers([]).factories, []);
  });

  it('leaves out what is not chosen: RESP on 6379 is redis with all analyzers, nothing with pop3 alone (Zeek -b base/protocols/pop3)', async function () {
    requireCorpus(this);
    const all = await analyse('zeek/pop3/redis-50-pings.pcap', {});
    assert.equal(all.conns.length, 1);
    assert.deepEqual(all.conns[0].service, ['redis']);
    const pop3 = await analyse('zeek/pop3/redis-50-pings.pcap', selectAnalyzers(['pop3']));
    assert.deepEqual(pop3.conns[0].service, []);
    // The same connection, its packets and history, whatever runs on its payload.
    assert.equal(pop3.conns[0].history, all.conns[0].history);
    assert.equal(pop3.conns[0].orig_pkts, all.conns[0].orig_pkts);
  });

  it('with no analyzer (Zeek -b base/protocols/conn) a QUIC connection has no service; with quic it is quic,ssl', async function () {
    requireCorpus(this);
    const key = (c: ConnRecord): boolean => c.orig_h === '193.167.0.100' && c.orig_p === 42834 && c.resp_p === 443;
    const none = await analyse('zeek/ppp/quic-interop-retry.pcap', selectAnalyzers([]));
    assert.deepEqual(none.conns.find(key)?.service, []);
    assert.equal(none.apps.length, 0);
    const quic = await analyse('zeek/ppp/quic-interop-retry.pcap', selectAnalyzers(['quic']));
    assert.deepEqual(quic.conns.find(key)?.service, ['quic', 'ssl']);
  });

  it('follows STARTTLS only for the protocols chosen, and TLS after it even without tls (the hand-over is the outer analyzer’s)', async function () {
    requireCorpus(this);
    const smtp = await analyse('zeek/tls/smtp-starttls.pcap', selectAnalyzers(['smtp']));
    const c = smtp.conns.find((r) => r.resp_p === 25);
    assert.deepEqual(c?.service, ['smtp', 'ssl']);
    assert.equal(smtp.apps.filter((r) => r.kind === 'tls').length, 1);
    const imap = await analyse('zeek/tls/smtp-starttls.pcap', selectAnalyzers(['imap', 'tls']));
    assert.deepEqual(imap.conns.find((r) => r.resp_p === 25)?.service, []);
    assert.equal(imap.apps.length, 0);
  });
});
