/**
 * Zeek's dynamic protocol detection after confirmation: a protocol violation early in the
 * connection removes the analyzer and its service (DPD::ignore_violations_after), analyzers
 * attached by port run next to the one that won, `service` lists what Zeek confirms as Zeek
 * confirms it (HTTP on a request, SSH at the end of its key exchange), and an analyzer limit
 * marks the analysis partial (history `X`).
 */
import { strict as assert } from 'node:assert';
import { AnalyzerMux, IGNORE_VIOLATIONS_AFTER, type MuxOptions } from '../../parsers/protocols/mux';
import type { AppRecord, HttpLogRecord } from '../../parsers/record/app';
import type { ConnRecord } from '../../parsers/record/conn';
import { SSH_MAX_PACKET } from '../../parsers/protocols/ssh';
import { MIME_MAX_DEPTH, MimeWalker } from '../../parsers/protocols/mime';
import { dnsMessage, httpRequest, httpResponse } from '../../samples/lib/packet-builder';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory } from '../../src/analyze/app';
import type { AppRecordOut } from '../../parsers/record/app';
import { corpusPath, requireCorpus } from '../util/corpus';

function mux(transport: 'tcp' | 'udp', streams: [boolean, Buffer][], opts: MuxOptions = {}): { m: AnalyzerMux; recs: AppRecord[] } {
  const recs: AppRecord[] = [];
  const m = new AnalyzerMux(transport, (r) => recs.push(r), opts);
  let ts = 1;
  for (const [isOrig, b] of streams) m.data(isOrig, b, 0, b.length, ts++);
  m.end(ts);
  return { m, recs };
}

/** One SSH 2 binary packet (RFC 4253 section 6) carrying `payload`, with 4 bytes of padding. */
function sshPacket(payload: Buffer): Buffer {
  const pad = 4;
  const b = Buffer.alloc(4 + 1 + payload.length + pad);
  b.writeUInt32BE(1 + payload.length + pad, 0);
  b[4] = pad;
  payload.copy(b, 5);
  return b;
}

const SERVER_BANNER = Buffer.from('SSH-2.0-OpenSSH_9.6\r\n');
const CLIENT_BANNER = Buffer.from('SSH-2.0-OpenSSH_9.3\r\n');

describe('protocols/dpd (Zeek service semantics after detection)', () => {
  it('removes HTTP from service when the server answers a request in another protocol, and still logs the request', () => {
    const { m, recs } = mux('tcp', [
      [true, httpRequest('GET', '/', '128.3.50.246')],
      [false, SERVER_BANNER],
    ]);
    assert.deepEqual(m.services, []);
    assert.equal(recs.length, 1);
    const r = recs[0] as HttpLogRecord;
    assert.equal(r.method, 'GET');
    assert.equal(r.status_code, null);
  });

  it('keeps the service when the violation comes after the first 10 KiB of the connection', () => {
    const body = Buffer.alloc(IGNORE_VIOLATIONS_AFTER, 0x61);
    const { m } = mux('tcp', [
      [true, httpRequest('POST', '/upload', 'api', [['Content-Length', String(body.length)]], body)],
      [false, SERVER_BANNER],
    ]);
    assert.deepEqual(m.services, ['http']);
  });

  it('does not list HTTP for a response without any request (Zeek confirms HTTP on a request)', () => {
    const { m, recs } = mux('tcp', [[false, httpResponse(400, 'Bad Request', [['Content-Length', '2']], Buffer.from('no'))]]);
    assert.deepEqual(m.services, []);
    assert.equal(recs.length, 1);
    assert.equal((recs[0] as HttpLogRecord).status_code, 400);
  });

  it('confirms SSH at its first NEWKEYS, not at the banners', () => {
    const kexinit = sshPacket(Buffer.concat([Buffer.from([20]), Buffer.alloc(16), Buffer.alloc(40)]));
    const newkeys = sshPacket(Buffer.from([21]));
    const banners = mux('tcp', [
      [false, SERVER_BANNER],
      [true, CLIENT_BANNER],
    ]);
    assert.deepEqual(banners.m.services, []);
    assert.equal(banners.m.partial, false);
    // The banner and the first packets in one piece, as a server often sends them.
    const full = mux('tcp', [
      [false, Buffer.concat([SERVER_BANNER, kexinit])],
      [true, Buffer.concat([CLIENT_BANNER, kexinit])],
      [true, newkeys],
    ]);
    assert.deepEqual(full.m.services, ['ssh']);
    assert.equal(full.m.partial, false);
  });

  it('marks SSH analysis partial at a packet above the RFC 4253 maximum, with no service', () => {
    const big = Buffer.alloc(8);
    big.writeUInt32BE(SSH_MAX_PACKET + 1, 0);
    big[4] = 4;
    big[5] = 20;
    const { m } = mux('tcp', [
      [false, SERVER_BANNER],
      [true, Buffer.concat([CLIENT_BANNER, big])],
    ]);
    assert.equal(m.partial, true);
    assert.deepEqual(m.services, []);
  });

  it("applies Zeek's dns_max_queries: too many questions is no DNS service and a partial analysis", () => {
    const questions = Array.from({ length: 10 }, () => ({ name: 'example.com', type: 1 }));
    const q = dnsMessage({ id: 0xabcd, response: false, questions });
    const limited = mux('udp', [[true, q]], { dnsMaxQueries: 3 });
    assert.deepEqual(limited.m.services, []);
    assert.equal(limited.m.partial, true);
    assert.equal(limited.recs.length, 0);
    // Zeek's default (25) lets the same message through.
    const plain = mux('udp', [[true, q]]);
    assert.deepEqual(plain.m.services, ['dns']);
    assert.equal(plain.m.partial, false);
  });

  it('removes FTP from service at a reply without a valid code, and keeps it through multi-line replies', () => {
    const login: [boolean, Buffer][] = [
      [false, Buffer.from('220 py.fake ready\r\n')],
      [true, Buffer.from('USER zeek\r\n')],
      [false, Buffer.from('230-Welcome\r\nfree text in a multi-line reply\r\n230 USER OK\r\n')],
      [true, Buffer.from('PASV\r\n')],
    ];
    assert.deepEqual(mux('tcp', [...login, [false, Buffer.from('227 Entering Passive Mode (127,0,0,1,4,1)\r\n')]]).m.services, ['ftp']);
    assert.deepEqual(mux('tcp', [...login, [false, Buffer.from('99 PASV invalid\r\n')]]).m.services, []);
    assert.deepEqual(mux('tcp', [...login, [false, Buffer.from('SYST not supported\r\n')]]).m.services, []);
  });

  describe('on captures of the shared corpus', () => {
    async function analyze(rel: string, opts: MuxOptions = {}): Promise<{ conns: ConnRecord[]; apps: AppRecordOut[] }> {
      const conns: ConnRecord[] = [];
      const apps: AppRecordOut[] = [];
      const res = await analyzeFile(corpusPath(rel), (r) => (r.interim ? undefined : conns.push(r)), {
        tracker: { payload: analyzerFactory((a) => apps.push(a), opts) },
      });
      assert.equal(res.error, null);
      return { conns, apps };
    }

    it('TLS to an HTTP server on port 80: no service, the HTTP 400 logged without a request (as Zeek)', async function () {
      requireCorpus(this);
      const { conns, apps } = await analyze('zeek/tls/ssl-to-http-server.pcap');
      assert.equal(conns.length, 1);
      assert.deepEqual(conns[0].service, []);
      const http = apps.filter((a) => a.kind === 'http') as (HttpLogRecord & AppRecordOut)[];
      assert.equal(http.length, 1);
      assert.equal(http[0].method, null);
      assert.equal(http[0].status_code, 400);
      assert.equal(apps.filter((a) => a.kind === 'tls').length, 1);
    });

    it('HTTP GET to an SSH server: no service, history ShADadr (as Zeek)', async function () {
      requireCorpus(this);
      const { conns } = await analyze('zeek/http/get-to-ssh-server.pcap');
      assert.equal(conns.length, 1);
      assert.deepEqual(conns[0].service, []);
      assert.equal(conns[0].history, 'ShADadr');
    });

    it('DNS with 10 questions and dns_max_queries=3: history DX, no service (as Zeek)', async function () {
      requireCorpus(this);
      const { conns, apps } = await analyze('zeek/dns/conn-count-too-large.pcap', { dnsMaxQueries: 3 });
      assert.equal(conns.length, 1);
      assert.equal(conns[0].history, 'DX');
      assert.deepEqual(conns[0].service, []);
      assert.equal(apps.length, 0);
    });

    it('HTTP POST of 100 message/rfc822 parts nested in one another: history ShADaXdfr, service http (deeply-nested-mime baseline)', async function () {
      requireCorpus(this);
      const { conns, apps } = await analyze('zeek/http/deeply-nested-mime.pcap');
      assert.equal(conns.length, 1);
      assert.equal(conns[0].history, 'ShADaXdfr');
      assert.deepEqual(conns[0].service, ['http']);
      // The transaction is still logged whole.
      const [h] = apps.filter((r) => r.kind === 'http') as unknown as HttpLogRecord[];
      assert.deepEqual([h.method, h.request_body_len, h.status_code], ['POST', 39686, 501]);
    });

    it('SSH KEXINIT of 40552 bytes: history ShADadX, no service (as Zeek)', async function () {
      requireCorpus(this);
      const { conns } = await analyze('zeek/ssh/kex-quadratic-1000.pcap');
      assert.equal(conns.length, 1);
      assert.equal(conns[0].history, 'ShADadX');
      assert.deepEqual(conns[0].service, []);
    });
  });
});

/** A message/rfc822 body holding `levels` multipart entities, each with a text part and the next level as a message/rfc822 part. */
function nestedMime(levels: number): Buffer {
  let inner = 'Content-Type: text/plain\r\n\r\nlast\r\n';
  for (let i = levels; i >= 1; i--) {
    const b = `=_${i}_=`;
    inner = `Content-Type: multipart/mixed; boundary="${b}"\r\n\r\npreamble\r\n--${b}\r\nContent-Type: text/plain\r\n\r\nPart ${i}\r\n--${b}\r\nContent-Type: message/rfc822\r\n\r\n${inner}--${b}--\r\n`;
  }
  return Buffer.from(inner);
}

describe("protocols/mime: Zeek's MIME::max_depth on HTTP bodies", () => {
  it('opens entities to the depth limit and reports the first child wanted past it, in any chunking', () => {
    // The body is the top entity (0, message/rfc822); level i's multipart is at depth 2i-1, its message part at 2i.
    const body = nestedMime(5);
    const hits = (max: number, step: number): boolean => {
      const w = MimeWalker.forContentType('message/rfc822', max)!;
      for (let p = 0; p < body.length; p += step) w.feed(body, p, Math.min(body.length, p + step));
      w.end();
      return w.limitHit;
    };
    // The deepest message entity (depth 10) opens a child: a limit of 10 stops it, 11 does not.
    assert.equal(hits(10, body.length), true);
    assert.equal(hits(11, body.length), false);
    assert.equal(hits(10, 7), true);
    assert.equal(hits(11, 3), false);
    assert.equal(MIME_MAX_DEPTH, 100);
    assert.equal(MimeWalker.forContentType('text/html'), null);
    assert.equal(MimeWalker.forContentType(null), null);
  });

  it('follows a body by its type as the regular expression reads it: blanks, any case, no other type starting with m', () => {
    const follows = (t: string): boolean => MimeWalker.forContentType(t) !== null;
    assert.equal(follows(' \tMultipart/mixed; boundary=b'), true);
    assert.equal(follows('MESSAGE \t/rfc822'), true);
    assert.equal(follows('message/rfc822'), true);
    assert.equal(follows('mime/x'), false);
    assert.equal(follows('multipartx/y'), false);
    assert.equal(follows(' m'), false);
    assert.equal(follows(''), false);
    assert.equal(follows('application/json'), false);
  });

  it('marks the HTTP analysis partial, keeps the service and logs the transaction', () => {
    // 50 levels: the deepest message entity is at depth 100, where Zeek opens no child.
    const body = nestedMime(50);
    const req = Buffer.concat([Buffer.from(`POST /up HTTP/1.1\r\nHost: a\r\nContent-Type: message/rfc822\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
    const { m, recs } = mux('tcp', [
      [true, req],
      [false, Buffer.from('HTTP/1.1 204 No Content\r\n\r\n')],
    ]);
    assert.equal(m.partial, true);
    assert.deepEqual(m.services, ['http']);
    assert.deepEqual(
      recs.map((r) => [(r as HttpLogRecord).request_body_len, (r as HttpLogRecord).status_code]),
      [[body.length, 204]],
    );
    // 49 levels: the deepest message entity is at depth 98 and opens its child: not partial.
    const ok = nestedMime(49);
    const req2 = Buffer.concat([Buffer.from(`POST /up HTTP/1.1\r\nContent-Type: message/rfc822\r\nContent-Length: ${ok.length}\r\n\r\n`), ok]);
    assert.equal(mux('tcp', [[true, req2]]).m.partial, false);
  });
});
