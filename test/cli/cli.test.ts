/**
 * The command line as users run it: a child process of bin/eastwatch.js, checked on its output
 * formats, summary and exit codes (0 ok, 1 input unreadable or corrupt, 2 usage).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { corpusPath, requireCorpus } from '../util/corpus';
import { readZeekLog } from '../conformance/zeek-log';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'eastwatch.js');

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('eastwatch CLI', () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-cli-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('exits 2 on usage errors and names the problem', () => {
    let r = run(['analyze']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing required argument/);
    r = run(['analyze', '--format', 'xml', 'x.pcap']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /xml.*(Allowed choices|choices)/is);
    r = run(['analyze', '--max-connections', 'many', 'x.pcap']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--max-connections must be a whole number/);
    r = run(['analyze', '--local-nets', '10.0.0.0', 'x.pcap']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not a CIDR/);
    r = run(['analyze', '--analyzers', 'dns,ssl', 'x.pcap']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown analyzer "ssl"; known: dns,http,/);
    r = run(['frobnicate']);
    assert.equal(r.code, 2);
  });

  it('--analyzers runs only the analyzers named (redis-50-pings.pcap: redis by default, no service with pop3 alone)', function () {
    requireCorpus(this);
    const cap = corpusPath('zeek/pop3/redis-50-pings.pcap');
    const service = (args: string[]): unknown[] => {
      const r = run(['analyze', '--no-detectors', '--no-summary', '-f', 'zeek-json', ...args, cap]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { service?: unknown }).service);
    };
    assert.deepEqual(service([]), ['redis']);
    assert.deepEqual(service(['--analyzers', 'pop3,dns']), [undefined]);
    assert.deepEqual(service(['--analyzers', 'redis']), ['redis']);
  });

  it('exits 1 for a missing file and for a file that is not a capture', () => {
    let r = run(['analyze', path.join(tmp, 'nope.pcap')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot read .*nope\.pcap/);
    const junk = path.join(tmp, 'junk.pcap');
    fs.writeFileSync(junk, 'this is not a capture at all\n');
    r = run(['analyze', junk]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /junk\.pcap: .*not a pcap or pcapng/);
    assert.match(r.stderr, /offset 0/);
  });

  it('exits 2 naming the path when --out cannot be written, before reading the capture', () => {
    const sample = path.resolve(__dirname, '..', '..', '..', 'samples', 'pod-traffic.pcap');
    const missing = path.join(tmp, 'no-such-dir', 'conn.log');
    let r = run(['analyze', '--no-detectors', '--out', missing, sample]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot write --out .*no-such-dir.*does not exist/);
    assert.doesNotMatch(r.stderr, /ENOENT|at .*\.js:\d+/);
    assert.equal(fs.existsSync(path.dirname(missing)), false);
    r = run(['analyze', '--no-detectors', '--out', tmp, sample]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /it is a directory/);
  });

  it('writes Zeek TSV that a Zeek log reader parses, with the columns zeek-cut needs', function () {
    requireCorpus(this);
    const out = path.join(tmp, 'conn.log');
    const r = run(['analyze', '--format', 'zeek', '--out', out, corpusPath('zeek/wikipedia.pcap')]);
    assert.equal(r.code, 0, r.stderr);
    const text = fs.readFileSync(out, 'utf8');
    assert.match(text, /^#separator \\x09\n#set_separator\t,\n#empty_field\t\(empty\)\n#unset_field\t-\n#path\tconn\n#open\t\d{4}-/);
    assert.match(text, /\n#close\t\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\n$/);
    const rows = readZeekLog(out);
    const zeek = readZeekLog(corpusPath('zeek/wikipedia.pcap.zeek.opt.basic.conn.log'));
    assert.equal(rows.length, zeek.length);
    for (const col of ['ts', 'uid', 'id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'proto', 'conn_state', 'history', 'community_id']) {
      assert.ok(
        rows.every((row) => row[col] !== undefined && row[col] !== ''),
        `column ${col}`,
      );
    }
    assert.ok(rows.every((row) => /^C[0-9A-Za-z]{10,}$/.test(row.uid)));
    // The summary goes to the terminal when records go to a file.
    assert.match(r.stdout, /1 capture\(s\), 136 packets, \d+ connections/);
  });

  it('gives the same uids on a second run, and the same records in every format', function () {
    requireCorpus(this);
    const f = corpusPath('zeek/wikipedia.pcap');
    const a = run(['analyze', '--format', 'ndjson', '--no-summary', f]);
    const b = run(['analyze', '--format', 'ndjson', '--no-summary', f]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    const nd = a.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { uid: string; orig_h: string; history: string });
    const zj = run(['analyze', '--format', 'zeek-json', '--no-summary', f])
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(nd.length, zj.length);
    assert.deepEqual(
      nd.map((r) => r.uid),
      zj.map((r) => r.uid),
    );
    assert.deepEqual(
      nd.map((r) => r.orig_h),
      zj.map((r) => r['id.orig_h']),
    );
    assert.equal(new Set(nd.map((r) => r.uid)).size, nd.length, 'uids unique');
    const table = run(['analyze', '--no-summary', f]);
    assert.equal(table.stdout.trim().split('\n').length, nd.length + 1);
    assert.match(table.stdout, /^ts\s+proto\s+originator\s+responder\s+state/);
  });

  it('reads gzip-compressed captures to the same records', function () {
    requireCorpus(this);
    const gz = path.join(tmp, 'wikipedia.pcap.gz');
    fs.writeFileSync(gz, zlib.gzipSync(fs.readFileSync(corpusPath('zeek/wikipedia.pcap'))));
    const a = run(['analyze', '--format', 'ndjson', '--no-summary', corpusPath('zeek/wikipedia.pcap')]);
    const b = run(['analyze', '--format', 'ndjson', '--no-summary', gz]);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, a.stdout);
  });

  it('on a corrupt capture writes every record before the fault, names the offset, and exits 1', function () {
    requireCorpus(this);
    // suricata-verify's file: 6 good packets, then a record header claiming a 4325376-byte packet.
    const r = run(['analyze', '--format', 'ndjson', corpusPath('suricata-verify/bug-1450-04/tls_DER-incomplete-header.pcap')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tls_DER-incomplete-header\.pcap: .*byte offset \d+, record 7/);
    assert.match(r.stderr, /6 packets before it were analysed/);
    const recs = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { orig_pkts: number; resp_pkts: number });
    assert.ok(recs.length >= 1);
    assert.equal(
      recs.reduce((s, x) => s + x.orig_pkts + x.resp_pkts, 0),
      6,
    );
  });

  it('writes dns.log, http.log and app.log beside --out, tied to conn.log by uid', () => {
    const out = path.join(tmp, 'logs', 'conn.log');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const sample = path.resolve(__dirname, '..', '..', '..', 'samples', 'pod-traffic.pcap');
    const r = run(['analyze', '--format', 'zeek', '--out', out, sample]);
    assert.equal(r.code, 0, r.stderr);
    const conns = readZeekLog(out);
    const byUid = new Map(conns.map((c) => [c.uid, c]));
    const dns = readZeekLog(path.join(path.dirname(out), 'dns.log'));
    const http = readZeekLog(path.join(path.dirname(out), 'http.log'));
    const app = readZeekLog(path.join(path.dirname(out), 'app.log'));
    assert.match(r.stdout, new RegExp(`application records: dns ${dns.length}, http ${http.length}, app ${app.length}`));
    assert.ok(dns.length > 0 && http.length > 0 && app.length > 0);
    for (const d of dns) {
      assert.equal(byUid.get(d.uid)?.service, 'dns');
      assert.match(d.query, /\.svc\.cluster\.local$|^-$/);
    }
    for (const h of http) {
      const c = byUid.get(h.uid);
      assert.equal(c?.service, 'http', `${h.uid}: http found by payload on port ${c?.['id.resp_p']}`);
      assert.equal(h['id.resp_p'], c?.['id.resp_p']);
      assert.match(h.method, /^(GET|POST|PUT|DELETE)$/);
      assert.match(h.status_code, /^\d{3}$/);
    }
    assert.deepEqual([...new Set(app.map((a) => a.protocol))].sort(), ['postgresql', 'redis']);
    // Without the analyzers: no payload-based service, no application logs.
    const bare = path.join(tmp, 'bare', 'conn.log');
    fs.mkdirSync(path.dirname(bare), { recursive: true });
    assert.equal(run(['analyze', '--no-analyzers', '--format', 'zeek', '--out', bare, sample]).code, 0);
    assert.deepEqual(fs.readdirSync(path.dirname(bare)), ['conn.log']);
    assert.ok(readZeekLog(bare).every((c) => c.service === '-'));
  });

  it('reads classic pcap the same with pcap-parser and with our reader', function () {
    requireCorpus(this);
    for (const f of ['zeek/wikipedia.pcap', 'tcpdump/pptp.pcap', 'tcpdump/tcp-handshake-nano.pcap']) {
      const a = run(['analyze', '--format', 'ndjson', '--no-summary', corpusPath(f)]);
      const b = run(['analyze', '--format', 'ndjson', '--no-summary', '--reader', 'pcap-parser', corpusPath(f)]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.stdout, a.stdout, f);
    }
  });

  it('--verify-checksums drops a bad-checksum SYN as Zeek without -C (syn-bad.pcap: history C, no packets)', function () {
    requireCorpus(this);
    const rec = (args: string[]): Record<string, unknown> => {
      const r = run(['analyze', '--format', 'ndjson', '--no-summary', ...args, corpusPath('zeek/tcp/syn-bad.pcap')]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout.trim());
    };
    const strict = rec(['--verify-checksums']);
    assert.deepEqual([strict.history, strict.conn_state, strict.orig_pkts], ['C', 'OTH', 0]);
    const lax = rec([]);
    assert.deepEqual([lax.history, lax.conn_state, lax.orig_pkts], ['S', 'S0', 1]);
  });
});
