/**
 * The Zeek flags read from ../shared/corpus/MANIFEST.json for each baseline: -C in its
 * spellings (alone, clustered, after other flags) and "same run" notes that share a command.
 */
import { strict as assert } from 'node:assert';
import { requireCorpus } from '../util/corpus';
import { hasDashC, hasFlag, zeekRunFor } from './manifest';

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
});
