import { strict as assert } from 'node:assert';
import { ja3, ja3String, ja4, parseClientHello, TlsAnalyzer } from '../../parsers/protocols/tls';
import { AnalyzerMux } from '../../parsers/protocols/mux';
import type { TlsLogRecord } from '../../parsers/record/app';
import { readZeekLog } from '../conformance/zeek-log';
import { corpusPath, requireCorpus } from '../util/corpus';
import { type Chunk, readFlows } from './flows';
import { collector, feedSplit, mutate, plain, rng } from './helpers';

const u16 = (v: number): number[] => [v >> 8, v & 0xff];
const vec16 = (b: number[]): number[] => [...u16(b.length), ...b];
const ext = (type: number, body: number[]): number[] => [...u16(type), ...vec16(body)];
const ascii = (s: string): number[] => [...Buffer.from(s, 'latin1')];

/**
 * A Chrome 143 ClientHello rebuilt from the fingerprint published by browserleaks.com
 * (quoted in github.com/service0427/v2_cp_app, tls.md): cipher and extension order from its
 * ja4_ro / ja3_text, with GREASE values added where Chrome puts them. Published values:
 *   ja3_hash 98487aa16281980e7d1120d399efb6a4, ja4 t13d1516h2_8daaf6152771_d8a2da3f94cd.
 * The cipher part 8daaf6152771 is also the example in FoxIO's JA4 specification (technical_details/JA4.md).
 */
function chromeClientHello(): Buffer {
  const ciphers = [0x3a3a, 4865, 4866, 4867, 49195, 49199, 49196, 49200, 52393, 52392, 49171, 49172, 156, 157, 47, 53];
  const sni = [...vec16([0, ...vec16(ascii('tls.browserleaks.com'))])];
  const alpn = vec16([2, ...ascii('h2'), 8, ...ascii('http/1.1')]);
  const exts = [
    ...ext(0x2a2a, []),
    ...ext(45, [1, 1]),
    ...ext(51, vec16([...u16(0x2a2a), ...vec16([0])])),
    ...ext(16, alpn),
    ...ext(65037, [0, 0, 1, 0, 1, 0x7b, 0, 0x20, ...Array(32).fill(7), 0, 0]),
    ...ext(23, []),
    ...ext(17613, [0, 3, 2, 0x68, 0x32]),
    ...ext(0, sni),
    ...ext(11, [1, 0]),
    ...ext(10, vec16([...u16(0x2a2a), ...u16(4588), ...u16(29), ...u16(23), ...u16(24)])),
    ...ext(43, [6, ...u16(0x6a6a), ...u16(0x0304), ...u16(0x0303)]),
    ...ext(65281, [0]),
    ...ext(35, []),
    ...ext(18, []),
    ...ext(5, [1, 0, 0, 0, 0]),
    ...ext(13, vec16([0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601].flatMap(u16))),
    ...ext(27, [2, 0, 2]),
    ...ext(0x1a1a, [0]),
  ];
  const body = [...u16(0x0303), ...Array(32).fill(1), 32, ...Array(32).fill(2), ...vec16(ciphers.flatMap(u16)), 1, 0, ...vec16(exts)];
  const hs = [1, 0, ...u16(body.length), ...body];
  return Buffer.from([22, 3, 1, ...u16(hs.length), ...hs]);
}

function serverHello13(): Buffer {
  const exts = [...ext(43, u16(0x0304)), ...ext(51, [0, 29, 0, 32, ...Array(32).fill(5)])];
  const body = [...u16(0x0303), ...Array(32).fill(3), 32, ...Array(32).fill(2), ...u16(0x1301), 0, ...vec16(exts)];
  const hs = [2, 0, ...u16(body.length), ...body];
  return Buffer.concat([Buffer.from([22, 3, 3, ...u16(hs.length), ...hs]), Buffer.from([20, 3, 3, 0, 1, 1]), Buffer.from([23, 3, 3, 0, 4, 9, 9, 9, 9])]);
}

function runTls(chunks: Chunk[]): { rec: TlsLogRecord | undefined; a: TlsAnalyzer } {
  const c = collector('tcp');
  const a = new TlsAnalyzer(c.opts);
  for (const ch of chunks) a.data(ch.isOrig, ch.data, 0, ch.data.length, ch.ts);
  a.end(Infinity);
  return { rec: c.records[0] as TlsLogRecord | undefined, a };
}

describe('protocols/tls', () => {
  it('JA3 and JA4 of a Chrome ClientHello match the published browserleaks values (GREASE removed)', () => {
    const b = chromeClientHello();
    const ch = parseClientHello(b, 9, b.length);
    assert.equal(ch.sni, 'tls.browserleaks.com');
    assert.deepEqual(ch.alpn, ['h2', 'http/1.1']);
    assert.equal(
      ja3String(ch),
      '771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0',
    );
    assert.equal(ja3(ch), '98487aa16281980e7d1120d399efb6a4');
    assert.equal(ja4(ch), 't13d1516h2_8daaf6152771_d8a2da3f94cd');
  });

  it('TLS 1.3 handshake: SNI, ALPN, chosen cipher, JA3S, established; same record for every split offset', () => {
    const c = chromeClientHello();
    const s = serverHello13();
    const app = Buffer.from([23, 3, 3, 0, 2, 1, 1]);
    const whole = runTls([
      { isOrig: true, data: c, ts: 1 },
      { isOrig: false, data: s, ts: 2 },
      { isOrig: true, data: app, ts: 3 },
    ]);
    const r = whole.rec!;
    assert.deepEqual(
      [r.version, r.cipher, r.server_name, r.established, r.ja4],
      ['TLSv13', 'TLS_AES_128_GCM_SHA256', 'tls.browserleaks.com', true, 't13d1516h2_8daaf6152771_d8a2da3f94cd'],
    );
    assert.equal(r.ja3s_string, '771,4865,43-51');
    for (const [data, isOrig] of [
      [c, true],
      [s, false],
    ] as [Buffer, boolean][]) {
      for (let i = 1; i < data.length; i++) {
        const col = collector('tcp');
        const a = new TlsAnalyzer(col.opts);
        if (isOrig) feedSplit(a, true, c, [i], 1);
        else a.data(true, c, 0, c.length, 1);
        if (!isOrig) feedSplit(a, false, s, [i], 2);
        else a.data(false, s, 0, s.length, 2);
        a.data(true, app, 0, app.length, 3);
        a.end(4);
        assert.deepEqual(plain(col.records[0]), plain(r), `${isOrig ? 'client' : 'server'} cut at ${i}`);
      }
    }
  });

  it('rejects non-TLS at once, and never throws on thousands of mutations', () => {
    const a = new TlsAnalyzer(collector('tcp').opts);
    const http = Buffer.from('GET / HTTP/1.1\r\n\r\n');
    a.data(true, http, 0, http.length, 1);
    assert.equal(a.state, 'rejected');
    const r = rng(443);
    const c = chromeClientHello();
    const s = serverHello13();
    for (let i = 0; i < 3000; i++) {
      const mc = mutate(c, r);
      const ms = mutate(s, r);
      const t = new TlsAnalyzer(collector('tcp').opts);
      feedSplit(t, true, mc, [Math.floor(r() * mc.length)], 1);
      feedSplit(t, false, ms, [Math.floor(r() * ms.length)], 2);
      t.end(3);
    }
  });

  describe('corpus', () => {
    /** TCP flows of a capture, each direction's stream starting at its first TLS handshake record (skips IRC STARTTLS). */
    async function tlsFlow(pcap: string): Promise<Chunk[]> {
      const flows = (await readFlows(corpusPath(pcap))).filter((f) => f.proto === 'tcp');
      const f = flows.find((x) => x.chunks.some((c) => c.data[0] === 22 && c.data[1] === 3))!;
      const started = [false, false];
      const out: Chunk[] = [];
      for (const ch of f.chunks) {
        const d = ch.isOrig ? 1 : 0;
        if (!started[d]) {
          if (!(ch.data[0] === 22 && ch.data[1] === 3)) continue;
          started[d] = true;
        }
        out.push(ch);
      }
      return out;
    }

    // JA3/JA3S oracle: tshark 4.0.17 fields tls.handshake.ja3 / tls.handshake.ja3s on the same captures.
    const cases = [
      {
        pcap: 'zeek/tls/tls-conn-with-extensions.pcap',
        log: 'zeek/tls/tls-conn-with-extensions.pcap.zeek.scripts.base.protocols.ssl.basic.ssl.log',
        ja3: '62351d5ea3cd4f21f697965b10a9bbbe',
        ja3s: 'e07f21892995126f4b539c02215c8456',
        subject: 'CN=*.gstatic.com,O=Google Inc,L=Mountain View,ST=California,C=US',
        issuer: 'CN=Google Internet Authority,O=Google Inc,C=US',
        mux: true,
      },
      {
        pcap: 'zeek/tls/irc-starttls.pcap',
        log: 'zeek/tls/irc-starttls.pcap.zeek.scripts.base.protocols.irc.starttls.ssl.log',
        ja3: 'c369db2c355ad05c76f5660af3179b01',
        ja3s: '4b505adfb4a921c5a3a39d293b0811e1',
        subject: 'CN=irc.joulunet.org,OU=IRCd,O=Multim,L=Pori,ST=Pori,C=FI',
        issuer: 'CN=irc.joulunet.org,OU=IRCd,O=Multim,L=Pori,ST=Pori,C=FI',
        mux: false,
      },
    ];
    for (const k of cases) {
      it(`${k.pcap}: version, cipher, server_name, established vs Zeek ssl.log; JA3/JA3S vs tshark; certificate`, async function (this: Mocha.Context) {
        requireCorpus(this);
        const chunks = await tlsFlow(k.pcap);
        const { rec, a } = runTls(chunks);
        assert.equal(a.issues.length, 0, JSON.stringify(a.issues));
        const z = readZeekLog(corpusPath(k.log))[0];
        const ours = { version: rec!.version, cipher: rec!.cipher, server_name: rec!.server_name ?? '-', established: rec!.established ? 'T' : 'F' };
        assert.deepEqual(ours, { version: z.version, cipher: z.cipher, server_name: z.server_name, established: z.established });
        assert.equal(rec!.ja3, k.ja3);
        assert.equal(rec!.ja3s, k.ja3s);
        assert.equal(rec!.subject, k.subject);
        assert.equal(rec!.issuer, k.issuer);
        assert.ok(rec!.certificates[0].not_valid_after! > rec!.certificates[0].not_valid_before!);
        if (k.mux) {
          // Detection from the payload alone: all analyzers probe, TLS alone confirms.
          const recs: unknown[] = [];
          const mux = new AnalyzerMux('tcp', (x) => recs.push(x));
          for (const ch of chunks) mux.data(ch.isOrig, ch.data, 0, ch.data.length, ch.ts);
          mux.end(Infinity);
          assert.deepEqual(mux.services, ['ssl']);
          assert.equal(recs.length, 1);
        }
      });
    }

    it('zeek/tls/openjdk-25.0.2-zeek.org.pcap: TLS 1.3 ClientHello with SNI zeek.org; JA3/JA3S vs tshark', async function (this: Mocha.Context) {
      requireCorpus(this);
      const { rec } = runTls(await tlsFlow('zeek/tls/openjdk-25.0.2-zeek.org.pcap'));
      assert.equal(rec!.server_name, 'zeek.org');
      assert.deepEqual(rec!.client_alpn, ['h2', 'http/1.1']);
      assert.deepEqual(rec!.client_supported_versions, [0x0304, 0x0303]);
      assert.equal(rec!.version, 'TLSv13');
      assert.equal(rec!.ja3, 'bddb16608b241c89053080cf80771423');
      assert.equal(rec!.ja3s, '15af977ce25de452b96affa2addb1036');
      assert.match(rec!.ja4!, /^t13d\d{4}h2_[0-9a-f]{12}_[0-9a-f]{12}$/);
    });
  });
});
