import { strict as assert } from 'node:assert';
import { DnsAnalyzer, parseDnsMessage } from '../../parsers/protocols/dns';
import { AnalyzerMux } from '../../parsers/protocols/mux';
import type { DnsLogRecord } from '../../parsers/record/app';
import { dnsMessage, DnsType } from '../../samples/lib/packet-builder';
import { readZeekLog } from '../conformance/zeek-log';
import { corpusPath, requireCorpus } from '../util/corpus';
import { readFlows } from './flows';
import { collector, feedSplit, mutate, plain, rng } from './helpers';

const SVC = 'payments.shop.svc.cluster.local';

/** A CoreDNS-style SRV answer for a headless service: every name compressed against the question. */
function coreDnsSrvResponse(id: number): Buffer {
  return dnsMessage({
    id,
    response: true,
    aa: true,
    rd: true,
    ra: true,
    questions: [{ name: `_grpc._tcp.${SVC}`, type: DnsType.SRV }],
    answers: [
      { name: `_grpc._tcp.${SVC}`, type: DnsType.SRV, ttl: 30, data: { priority: 0, weight: 50, port: 9090, target: `10-244-1-7.${SVC}` } },
      { name: `_grpc._tcp.${SVC}`, type: DnsType.SRV, ttl: 30, data: { priority: 0, weight: 50, port: 9090, target: `10-244-2-9.${SVC}` } },
    ],
    authority: [
      {
        name: 'cluster.local',
        type: DnsType.SOA,
        ttl: 30,
        data: { mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 1700000000, refresh: 7200, retry: 1800, expire: 86400, minimum: 30 },
      },
    ],
  });
}

function query(id: number, name: string, type: number): Buffer {
  return dnsMessage({ id, response: false, questions: [{ name, type }] });
}

/** A response with TXT and MX answers, hand-written (the builder has neither). */
function txtMxResponse(): Buffer {
  const head = Buffer.from([0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]);
  const qname = Buffer.from([7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0]);
  const q = Buffer.concat([qname, Buffer.from([0, 16, 0, 1])]);
  const txtData = Buffer.from([5, ...Buffer.from('hello'), 3, ...Buffer.from('a b')]);
  const txt = Buffer.concat([Buffer.from([0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, txtData.length]), txtData]);
  const mxData = Buffer.from([0, 10, 4, ...Buffer.from('mail'), 0xc0, 12]);
  const mx = Buffer.concat([Buffer.from([0xc0, 12, 0, 15, 0, 1, 0, 0, 1, 0, 0, mxData.length]), mxData]);
  return Buffer.concat([head, q, txt, mx]);
}

function tcpFrame(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length);
  return Buffer.concat([len, msg]);
}

describe('protocols/dns', () => {
  describe('message parser', () => {
    it('keeps CoreDNS *.svc.cluster.local answers whole, through compression', () => {
      const r = parseDnsMessage(coreDnsSrvResponse(7), 0, coreDnsSrvResponse(7).length);
      assert.ok(r.ok);
      const m = r.msg;
      assert.equal(m.questions[0].name, `_grpc._tcp.${SVC}`);
      assert.deepEqual(
        m.rrs.filter((x) => x.type === 33).map((x) => x.srv),
        [
          { priority: 0, weight: 50, port: 9090, target: `10-244-1-7.${SVC}` },
          { priority: 0, weight: 50, port: 9090, target: `10-244-2-9.${SVC}` },
        ],
      );
      const soa = m.rrs.find((x) => x.type === 6)!;
      assert.equal(soa.section, 'authority');
      assert.equal(soa.soa!.mname, 'ns.dns.cluster.local');
      assert.equal(soa.soa!.rname, 'hostmaster.cluster.local');
      assert.equal(soa.soa!.serial, 1700000000);
      assert.equal(soa.soa!.minimum, 30);
    });

    it('decodes A, AAAA, CNAME, PTR, NS, TXT and MX', () => {
      const b = dnsMessage({
        id: 1,
        response: true,
        questions: [{ name: 'web.default.svc.cluster.local', type: DnsType.A }],
        answers: [
          { name: 'web.default.svc.cluster.local', type: DnsType.CNAME, ttl: 5, data: 'web-0.web.default.svc.cluster.local' },
          { name: 'web-0.web.default.svc.cluster.local', type: DnsType.A, ttl: 5, data: '10.96.0.10' },
          { name: 'web-0.web.default.svc.cluster.local', type: DnsType.AAAA, ttl: 5, data: 'fd00:10:96::a' },
          { name: '10.0.96.10.in-addr.arpa', type: DnsType.PTR, ttl: 5, data: 'kube-dns.kube-system.svc.cluster.local' },
          { name: 'cluster.local', type: DnsType.NS, ttl: 5, data: 'ns.dns.cluster.local' },
        ],
      });
      const r = parseDnsMessage(b, 0, b.length);
      assert.ok(r.ok);
      assert.deepEqual(
        r.msg.rrs.map((x) => `${x.type_name} ${x.data}`),
        [
          'CNAME web-0.web.default.svc.cluster.local',
          'A 10.96.0.10',
          'AAAA fd00:10:96::a',
          'PTR kube-dns.kube-system.svc.cluster.local',
          'NS ns.dns.cluster.local',
        ],
      );
      const t = txtMxResponse();
      const r2 = parseDnsMessage(t, 0, t.length);
      assert.ok(r2.ok);
      assert.deepEqual(r2.msg.rrs[0].txt, ['hello', 'a b']);
      assert.equal(r2.msg.rrs[0].data, 'TXT 5 hello TXT 3 a b');
      assert.deepEqual(r2.msg.rrs[1].mx, { preference: 10, exchange: 'mail.example.com' });
      assert.equal(r2.msg.rrs[1].ttl, 256);
    });

    it('refuses compression loops, forward pointers, over-long names and lying counts, with offsets', () => {
      // Question name is a pointer to itself (offset 12).
      const loop = Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
      const r1 = parseDnsMessage(loop, 0, loop.length);
      assert.ok(!r1.ok);
      assert.equal(r1.code, 'dns-name-pointer');
      assert.equal(r1.offset, 12);
      // Forward pointer.
      const fwd = Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 16, 0, 1, 0, 1, 0]);
      assert.equal((parseDnsMessage(fwd, 0, fwd.length) as { code: string }).code, 'dns-name-pointer');
      // Two labels pointing at each other (mutual loop): the second pointer is not before the first.
      const mutual = Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0xc0, 12, 0, 1, 0, 1]);
      assert.equal((parseDnsMessage(mutual, 0, mutual.length) as { code: string }).code, 'dns-name-pointer');
      // 5 labels of 63 bytes: 320 bytes > 255.
      const labels: number[] = [];
      for (let i = 0; i < 5; i++) labels.push(63, ...Buffer.alloc(63, 0x61));
      const long = Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1]);
      assert.equal((parseDnsMessage(long, 0, long.length) as { code: string }).code, 'dns-name-too-long');
      const counts = Buffer.from([0, 1, 0x81, 0x80, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
      assert.equal((parseDnsMessage(counts, 0, counts.length) as { code: string }).code, 'dns-rr-count');
      assert.equal((parseDnsMessage(counts, 0, 5) as { code: string }).code, 'dns-short-header');
    });
  });

  describe('analyzer', () => {
    it('pairs requests and responses by id over UDP with rtt, in Zeek dns.log shape', () => {
      const c = collector('udp');
      const a = new DnsAnalyzer(c.opts);
      a.data(true, query(7, `_grpc._tcp.${SVC}`, DnsType.SRV), 0, query(7, `_grpc._tcp.${SVC}`, DnsType.SRV).length, 100);
      a.data(true, query(8, `other.${SVC}`, DnsType.A), 0, query(8, `other.${SVC}`, DnsType.A).length, 100.001);
      const resp = coreDnsSrvResponse(7);
      a.data(false, resp, 0, resp.length, 100.0025);
      a.end(101);
      assert.equal(a.state, 'confirmed');
      const recs = c.records as DnsLogRecord[];
      assert.equal(recs.length, 2);
      const r = recs[0];
      assert.equal(r.trans_id, 7);
      assert.equal(r.query, `_grpc._tcp.${SVC}`);
      assert.equal(r.qtype_name, 'SRV');
      assert.equal(r.qclass_name, 'C_INTERNET');
      assert.equal(r.rcode_name, 'NOERROR');
      assert.ok(Math.abs(r.rtt! - 0.0025) < 1e-9);
      assert.deepEqual(r.answers, [`10-244-1-7.${SVC}`, `10-244-2-9.${SVC}`]);
      assert.deepEqual(r.TTLs, [30, 30]);
      assert.deepEqual([r.AA, r.TC, r.RD, r.RA], [true, false, true, true]);
      assert.equal(r.rrs.length, 3);
      // The unanswered query is flushed at end.
      assert.equal(recs[1].trans_id, 8);
      assert.equal(recs[1].rcode, null);
      assert.equal(recs[1].rtt, null);
    });

    it('DNS over TCP: several messages per segment and messages split at every byte offset give the same records', () => {
      const q = tcpFrame(query(7, `_grpc._tcp.${SVC}`, DnsType.SRV));
      const rs = Buffer.concat([tcpFrame(coreDnsSrvResponse(7)), tcpFrame(txtMxResponse())]);
      const run = (cutQ: number[], cutR: number[]): unknown => {
        const c = collector('tcp');
        const a = new DnsAnalyzer(c.opts);
        feedSplit(a, true, q, cutQ, 1);
        feedSplit(a, false, rs, cutR, 2);
        a.end(3);
        assert.equal(a.issues.length, 0, JSON.stringify(a.issues));
        return plain(c.records);
      };
      const whole = run([], []) as DnsLogRecord[];
      assert.equal(whole.length, 2);
      assert.deepEqual(whole[0].answers, [`10-244-1-7.${SVC}`, `10-244-2-9.${SVC}`]);
      assert.equal(whole[1].trans_id, 0x1234);
      assert.equal(whole[1].query, 'example.com');
      for (let i = 1; i < q.length; i++) assert.deepEqual(run([i], []), whole, `query cut at ${i}`);
      for (let i = 1; i < rs.length; i++) assert.deepEqual(run([], [i]), whole, `response cut at ${i}`);
      // Byte by byte.
      assert.deepEqual(run([...Array(q.length).keys()], [...Array(rs.length).keys()]), whole);
    });

    it('rejects non-DNS while probing and records violations after confirmation without throwing', () => {
      const c = collector('udp');
      const a = new DnsAnalyzer(c.opts);
      const http = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      a.data(true, http, 0, http.length, 1);
      assert.equal(a.state, 'rejected');
      const b = new DnsAnalyzer(collector('udp').opts);
      const ok = query(1, 'a.b', 1);
      b.data(true, ok, 0, ok.length, 1);
      const bad = Buffer.from([0, 2, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
      b.data(false, bad, 0, bad.length, 2);
      assert.equal(b.state, 'confirmed');
      assert.equal(b.violations, 1);
      assert.deepEqual(
        b.issues.map((i) => [i.kind, i.code, i.offset]),
        [['violation', 'dns-name-pointer', 12]],
      );
    });

    it('bounds TCP buffering: a length prefix beyond the bound fails the analyzer with a limit issue', () => {
      const c = collector('tcp', 1024);
      const a = new DnsAnalyzer(c.opts);
      const q = tcpFrame(query(7, 'a.b', 1));
      a.data(true, q, 0, q.length, 1);
      const big = Buffer.from([0xff, 0xff, 0, 1, 0x81, 0x80]);
      a.data(false, big, 0, big.length, 2);
      assert.equal(a.state, 'failed');
      assert.equal(a.issues[0].kind, 'limit');
    });

    it('never throws on thousands of random mutations (UDP and TCP)', () => {
      const r = rng(53);
      const seeds = [coreDnsSrvResponse(9), txtMxResponse(), query(3, `x.${SVC}`, DnsType.AAAA)];
      let parsed = 0;
      for (let i = 0; i < 4000; i++) {
        const m = mutate(seeds[i % seeds.length], r);
        const p = parseDnsMessage(m, 0, m.length);
        if (p.ok) parsed++;
        const u = new DnsAnalyzer(collector('udp').opts);
        u.data(false, m, 0, m.length, 1);
        u.end(2);
        const t = new DnsAnalyzer(collector('tcp').opts);
        const f = tcpFrame(m);
        feedSplit(t, false, f, [Math.floor(r() * f.length)], 1);
        t.end(2);
      }
      assert.ok(parsed > 0 && parsed < 4000, `parsed ${parsed}`);
    });
  });

  describe('conformance with Zeek dns.log', () => {
    const cases: [string, string][] = [
      ['zeek/wikipedia.pcap', 'zeek/wikipedia.pcap.zeek.opt.basic.dns.log'],
      ['zeek/tunnels/gre-sample.pcap', 'zeek/tunnels/gre-sample.pcap.zeek.core.tunnels.gre.dns.log'],
      ['zeek/ipv6-fragmented-dns.pcap', 'zeek/ipv6-fragmented-dns.pcap.zeek.core.ipv6-frag.dns.log'],
    ];
    const fields = ['query', 'qtype', 'rcode', 'answers', 'TTLs'] as const;
    let total = 0;
    let agree = 0;
    for (const [pcap, log] of cases) {
      it(`${pcap}: query, qtype, rcode, answers, TTLs`, async function (this: Mocha.Context) {
        requireCorpus(this);
        const flows = await readFlows(corpusPath(pcap));
        const ours: { key: string; rec: DnsLogRecord; used: boolean }[] = [];
        for (const f of flows) {
          if (f.proto !== 'udp') continue;
          const recs: DnsLogRecord[] = [];
          const mux = new AnalyzerMux('udp', (x) => recs.push(x as DnsLogRecord));
          for (const ch of f.chunks) mux.data(ch.isOrig, ch.data, 0, ch.data.length, ch.ts);
          mux.end(Infinity);
          if (recs.length > 0) assert.deepEqual(mux.services, ['dns']);
          for (const rec of recs) ours.push({ key: `${f.orig_h}|${f.orig_p}|${f.resp_h}|${f.resp_p}|${rec.trans_id}`, rec, used: false });
        }
        // NetBIOS name service (port 137) is DNS-like but not DNS: Zeek parses it, we do not.
        const rows = readZeekLog(corpusPath(log)).filter((z) => z['id.resp_p'] !== '137');
        let n = 0;
        let ok = 0;
        const diffs: string[] = [];
        for (const z of rows) {
          const key = `${z['id.orig_h']}|${z['id.orig_p']}|${z['id.resp_h']}|${z['id.resp_p']}|${z.trans_id}`;
          const mine = ours.find((o) => !o.used && o.key === key && o.rec.query === z.query) ?? ours.find((o) => !o.used && o.key === key);
          if (mine) mine.used = true;
          const r = mine?.rec;
          const got: Record<(typeof fields)[number], string> = {
            query: r?.query ?? '-',
            qtype: r?.qtype != null ? String(r.qtype) : '-',
            rcode: r?.rcode != null ? String(r.rcode) : '-',
            answers: r?.answers ? r.answers.join(',') : '-',
            TTLs: r?.TTLs ? r.TTLs.map((t) => t.toFixed(6)).join(',') : '-',
          };
          for (const f of fields) {
            n++;
            if (got[f] === z[f]) ok++;
            else diffs.push(`${key} ${f}: zeek ${z[f].slice(0, 80)} ours ${got[f].slice(0, 80)}`);
          }
        }
        total += n;
        agree += ok;
        console.log(
          `      ${pcap}: ${rows.length} rows, ${ok}/${n} fields agree (${((100 * ok) / n).toFixed(1)}%)${diffs.length ? `\n        ${diffs.slice(0, 5).join('\n        ')}` : ''}`,
        );
        assert.ok(ok / n >= 0.98, diffs.join('\n'));
      });
    }
    after(() => {
      if (total > 0) console.log(`      dns overall: ${agree}/${total} fields agree (${((100 * agree) / total).toFixed(1)}%)`);
    });
  });
});
