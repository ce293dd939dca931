/**
 * The Zeek flags read from ../shared/corpus/MANIFEST.json for each baseline: -C in its
 * spellings (alone, clustered, after other flags) and "same run" notes that share a command;
 * the likely server ports of bare-mode (-b) runs.
 */
import { strict as assert } from 'node:assert';
import { requireCorpus } from '../util/corpus';
import { analyzerOptionsFor, analyzersForScripts, hasDashC, hasFlag, loadedScripts, noteRedefs, zeekRunFor } from './manifest';

describe('Zeek commands of the corpus baselines (MANIFEST.json)', () => {
  it('finds -C alone, in a cluster, and not in an option value', () => {
    assert.equal(hasDashC('zeek -b -C -r $TRACES/x.pcap %INPUT'), true);
    assert.equal(hasFlag('zeek -br $TRACES/dns/conn-count-too-large.pcap dns_max_queries=3 %INPUT', 'b'), true);
    assert.equal(hasFlag('zeek -r TRACE -C', 'b'), false);
    assert.equal(hasFlag('zeek -r -b.pcap', 'b'), false);
    assert.equal(hasDashC('zeek -b -Cr $TRACES/x.pcap %INPUT'), true);
    assert.equal(hasDashC('zeek -C -b -r TRACE'), true);
    assert.equal(hasDashC('zeek -br $TRACES/dns/conn-count-too-large.pcap dns_max_queries=3 %INPUT'), false);
    assert.equal(hasDashC('zeek -r -C.pcap'), false);
    assert.equal(hasDashC('zeek -r TRACE with default (non-bare) scripts'), false);
  });

  it('verifies checksums exactly where Zeek ran without -C', function () {
    requireCorpus(this);
    assert.equal(zeekRunFor('zeek/wikipedia.pcap.zeek.opt.basic.conn.log').verifyChecksums, true);
    // "same run" note: the command of the conn.log before it.
    assert.equal(zeekRunFor('zeek/wikipedia.pcap.zeek.opt.basic.dns.log').verifyChecksums, true);
    assert.equal(zeekRunFor('zeek/tls/irc-starttls.pcap.zeek.scripts.base.protocols.irc.starttls.ssl.log').verifyChecksums, false);
    assert.equal(
      zeekRunFor('zeek/ftp/ftp-password-pass-command.pcap.zeek.scripts.base.protocols.ftp.ftp-password-pass-command.conn.log').verifyChecksums,
      false,
    );
    assert.equal(zeekRunFor('zeek/pppoe.pcap.zeek.core.pppoe.conn.log').verifyChecksums, true);
    // The command follows a pipe: `zcat < ... | zeek -b -r - %INPUT`.
    assert.equal(zeekRunFor('zeek/ssh/kex-quadratic-1000.pcap.zeek.scripts.base.protocols.ssh.max-kexinit-algorithms.conn.log').verifyChecksums, true);
    assert.throws(() => zeekRunFor('zeek/no-such.pcap.zeek.x.conn.log'), /records no Zeek command/);
  });

  it('gives a `zeek -b` run the server ports of the scripts it loaded, and other runs the default set', function () {
    requireCorpus(this);
    const sorted = (run: ReturnType<typeof zeekRunFor>): { tcp: number[]; udp: number[] } | undefined =>
      run.likelyServerPorts && { tcp: [...run.likelyServerPorts.tcp].sort((a, b) => a - b), udp: [...run.likelyServerPorts.udp].sort((a, b) => a - b) };
    const bareUdp = [2123, 2152, 3544, 4789, 5072, 6081];
    // %INPUT loads base/protocols/conn and base/frameworks/tunnels: no ports of their own.
    assert.deepEqual(sorted(zeekRunFor('zeek/tunnels/gre-aruba-amsdu.pcap.zeek.core.tunnels.gre-aruba-amsdu.conn.log')), { tcp: [], udp: bareUdp });
    // The script named on the command line (no %INPUT): base/protocols/dns.
    assert.deepEqual(sorted(zeekRunFor('zeek/dns53.pcap.zeek.scripts.base.protocols.dns.flip.dns.log')), {
      tcp: [53],
      udp: [53, 137, 2123, 2152, 3544, 4789, 5072, 5353, 5355, 6081],
    });
    assert.deepEqual(sorted(zeekRunFor('zeek/ntp/misordered-ntp.pcap.zeek.scripts.base.protocols.ntp.misordered-ntp.conn.log'))?.udp, [123, ...bareUdp]);
    // Not bare; and an older note that does not list the scripts loaded.
    assert.equal(zeekRunFor('zeek/cisco-fabric-path.pcap.zeek.core.cisco-fabric-path.conn.log').likelyServerPorts, undefined);
    assert.equal(zeekRunFor('zeek/tcp/missing-syn.pcap.zeek.core.history-flip.conn.log').likelyServerPorts, undefined);
  });

  it('reads the scripts a run loaded from its command and note, and null where the note does not say', () => {
    assert.deepEqual(loadedScripts('zeek -b -r TRACE, loads base/protocols/conn+http, redef dpd_reassemble_first_packets=F; test x', ['zeek -b -r TRACE']), [
      'base/protocols/conn',
      'base/protocols/http',
    ]);
    assert.deepEqual(
      loadedScripts('zeek -b -r TRACE + protocols/conn/vlan-logging (adds vlan, inner_vlan columns)', [
        'zeek -b -r TRACE + protocols/conn/vlan-logging (adds vlan',
      ]),
      ['protocols/conn/vlan-logging'],
    );
    const note =
      '`zeek -b -r $TRACES/tls/smtp-starttls.pcap %INPUT` ; `btest-diff ssl.log`; -b bare mode; %INPUT (the test file) loads base/protocols/smtp, base/protocols/ssl; redef X = T';
    assert.deepEqual(loadedScripts(note, ['zeek -b -r $TRACES/tls/smtp-starttls.pcap %INPUT']), ['base/protocols/smtp', 'base/protocols/ssl']);
    assert.deepEqual(
      loadedScripts('`zeek -b -r $TRACES/dns53.pcap base/protocols/dns`; test file not loaded (no %INPUT)', [
        'zeek -b -r $TRACES/dns53.pcap base/protocols/dns',
      ]),
      ['base/protocols/dns'],
    );
    assert.equal(loadedScripts('zeek -b -C -r TRACE; test scripts/base/protocols/irc/starttls.test', ['zeek -b -C -r TRACE']), null);
    assert.deepEqual(
      analyzersForScripts([
        'base/protocols/conn',
        'policy/protocols/dns/auth-addl',
        'base/protocols/ssl',
        'base/protocols/ldap',
        'base/protocols/ntp',
        'base/protocols/smb',
      ]),
      // smb: Zeek has it, we have no analyzer of that name, so it drops out.
      ['dns', 'tls', 'dtls', 'ldap', 'ntp'],
    );
  });

  it("reads the test file's redefinitions and attaches what it registers by port (gnutella max-line-length)", function () {
    assert.deepEqual(noteRedefs('x; redef A::b = 100; redef FTP::logged_commands += { "X" }; redef c = T'), { 'A::b': '100', c: 'T' });
    requireCorpus(this);
    const run = zeekRunFor('zeek/gnutella/max-line.pcapng.zeek.scripts.base.protocols.gnutella.max-line-length.conn.log');
    assert.equal(run.btest, 'scripts/base/protocols/gnutella/max-line-length.zeek');
    const o = analyzerOptionsFor(run);
    assert.deepEqual(
      o.factories?.map((f) => f.name),
      ['gnutella'],
    );
    assert.deepEqual([o.gnutellaMaxLineLength, o.gnutellaMaxHeaderLength], [100, 100]);
  });

  it('runs in bare mode only the analyzers of the scripts Zeek loaded, and all of them otherwise', function () {
    requireCorpus(this);
    const conn = zeekRunFor('zeek/ppp/quic-interop-retry.pcap.zeek.core.ppp.conn.log');
    assert.equal(conn.bare, true);
    assert.deepEqual(conn.scripts, ['base/protocols/conn']);
    assert.deepEqual(analyzerOptionsFor(conn).factories, []);
    const smtp = analyzerOptionsFor(zeekRunFor('zeek/tls/smtp-starttls.pcap.zeek.scripts.base.protocols.smtp.starttls.ssl.log'));
    assert.deepEqual(
      smtp.factories?.map((f) => f.name),
      ['tls', 'dtls', 'starttls'],
    );
    assert.deepEqual([...(smtp.startTlsProtocols ?? [])], ['smtp']);
    // Not bare: Zeek's default scripts attach every analyzer.
    const full = zeekRunFor('zeek/wikipedia.pcap.zeek.opt.basic.conn.log');
    assert.equal(full.bare, false);
    assert.equal(analyzerOptionsFor(full).factories, undefined);
    // base/protocols/syslog attaches Syslog_TCP (ours: syslog) on 514/tcp.
    assert.deepEqual(analyzersForScripts(['base/protocols/conn', 'base/protocols/syslog']), ['syslog']);
    assert.deepEqual(
      analyzerOptionsFor({ ...conn, scripts: ['base/protocols/syslog'] }).factories?.map((f) => f.name),
      ['syslog'],
    );
    // Bare, but the note does not say what the test file loaded: all analyzers, as before.
    assert.equal(analyzerOptionsFor(zeekRunFor('zeek/tls/irc-starttls.pcap.zeek.scripts.base.protocols.irc.starttls.conn.log')).factories, undefined);
  });
});
