import { strict as assert } from 'node:assert';
import { createCipheriv } from 'node:crypto';
import {
  CryptoAssembler,
  decodePacketNumber,
  decryptInitial,
  headerMask,
  initialKeys,
  initialSecret,
  MAX_HELLO,
  PacketType,
  parseLongHeader,
  QUIC_V1,
  QUIC_V2,
  QuicAnalyzer,
} from '../../parsers/protocols/quic';
import { AnalyzerMux } from '../../parsers/protocols/mux';
import type { TlsLogRecord } from '../../parsers/record/app';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory } from '../../src/analyze/app';
import type { AppRecordOut } from '../../parsers/record/app';
import type { ConnRecord } from '../../parsers/record/conn';
import { corpusPath, requireCorpus } from '../util/corpus';
import { collector, mutate, rng } from './helpers';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 9001 appendix A.
const DCID = hex('8394c8f03e515708');
const CLIENT_PAYLOAD = Buffer.concat([
  hex(`060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868
       04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578
       616d706c652e636f6dff01000100000a00080006001d00170018001000070005
       04616c706e000500050100000000003300260024001d00209370b2c9caa47fba
       baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400
       0d0010000e0403050306030203080408050806002d00020101001c0002400100
       3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000
       75300901100f088394c8f03e51570806048000ffff`),
  Buffer.alloc(917),
]);
const CLIENT_HEADER = hex('c300000001088394c8f03e5157080000449e00000002');
const CLIENT_PROTECTED_HEADER = hex('c000000001088394c8f03e5157080000449e7b9aec34');
const CLIENT_SAMPLE = hex('d1b1c98dd7689fb8ec11d242b123dc9b');
const CLIENT_PACKET_END = hex(`7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241
                               e221af44860018ab0856972e194cd934`);
const SERVER_PACKET = hex(`cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a
                           5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3
                           dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84
                           022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4
                           2158407dd074ee`);
const SERVER_PAYLOAD = hex(`02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739
                            88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c94
                            0d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00
                            020304`);

/**
 * Protects a packet as a sender does (RFC 9001 sections 5.3 and 5.4), from an unprotected header
 * ending with its packet number: the test's reference encoder, checked against the RFC's bytes
 * (A.2) before it builds anything else.
 */
function protect(version: number, dcid: Buffer, client: boolean, header: Buffer, pnOffset: number, pn: number, payload: Buffer): Buffer {
  const k = initialKeys(version, dcid, client)!;
  const nonce = Buffer.from(k.iv);
  nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ pn) >>> 0, 8);
  const c = createCipheriv('aes-128-gcm', k.key, nonce);
  c.setAAD(header);
  const ct = Buffer.concat([c.update(payload), c.final(), c.getAuthTag()]);
  const pnLen = (header[0] & 3) + 1;
  const out = Buffer.concat([header, ct]);
  const mask = headerMask(k.hp, out.subarray(pnOffset + 4, pnOffset + 20));
  out[0] ^= mask[0] & 0x0f;
  for (let i = 0; i < pnLen; i++) out[pnOffset + i] ^= mask[1 + i];
  return out;
}

const varint2 = (v: number): Buffer => Buffer.from([0x40 | (v >> 8), v & 0xff]);

/** An Initial packet of `version` carrying `frames`, padded to `size` bytes of payload, packet number `pn` (1 byte). */
function initialPacket(version: number, dcid: Buffer, scid: Buffer, client: boolean, pn: number, frames: Buffer, size = 1162): Buffer {
  const payload = Buffer.concat([frames, Buffer.alloc(Math.max(0, size - frames.length))]);
  const typeBits = version === QUIC_V2 ? 1 : 0;
  const header = Buffer.concat([
    Buffer.from([0xc0 | (typeBits << 4) | 0]),
    Buffer.from([version >>> 24, (version >> 16) & 0xff, (version >> 8) & 0xff, version & 0xff]),
    Buffer.from([dcid.length]),
    dcid,
    Buffer.from([scid.length]),
    scid,
    Buffer.from([0]), // token length
    varint2(payload.length + 1 + 16),
    Buffer.from([pn]),
  ]);
  return protect(version, dcid, client, header, header.length - 1, pn, payload);
}

/** A CRYPTO frame of data[from, to) at its stream offset. */
function cryptoFrame(data: Buffer, from: number, to: number): Buffer {
  return Buffer.concat([Buffer.from([6]), varint2(from), varint2(to - from), data.subarray(from, to)]);
}

/** The ClientHello of RFC 9001 A.2 (SNI example.com) and the ServerHello of A.3 (TLS_AES_128_GCM_SHA256), handshake headers included. */
const CLIENT_HELLO = CLIENT_PAYLOAD.subarray(4, 4 + 0xf1);
const SERVER_HELLO = SERVER_PAYLOAD.subarray(9, 9 + 0x5a);

function tlsRecords(records: unknown[]): TlsLogRecord[] {
  return records.filter((r): r is TlsLogRecord => (r as TlsLogRecord).kind === 'tls');
}

describe('QUIC Initial packet protection (RFC 9001 appendix A, RFC 9369 appendix A)', () => {
  it('derives the v1 initial secret and the client and server keys of A.1', () => {
    assert.equal(initialSecret(QUIC_V1, DCID)!.toString('hex'), '7db5df06e7a69e432496adedb00851923595221596ae2ae9fb8115c1e9ed0a44');
    const c = initialKeys(QUIC_V1, DCID, true)!;
    assert.equal(c.key.toString('hex'), '1f369613dd76d5467730efcbe3b1a22d');
    assert.equal(c.iv.toString('hex'), 'fa044b2f42a3fd3b46fb255c');
    assert.equal(c.hp.toString('hex'), '9f50449e04a0e810283a1e9933adedd2');
    const s = initialKeys(QUIC_V1, DCID, false)!;
    assert.equal(s.key.toString('hex'), 'cf3a5331653c364c88f0f379b6067e37');
    assert.equal(s.iv.toString('hex'), '0ac1493ca1905853b0bba03e');
    assert.equal(s.hp.toString('hex'), 'c206b8d9b9f0f37644430b490eeaa314');
  });

  it('derives the v2 keys of RFC 9369 A.1', () => {
    const c = initialKeys(QUIC_V2, DCID, true)!;
    assert.equal(c.key.toString('hex'), '8b1a0bc121284290a29e0971b5cd045d');
    assert.equal(c.iv.toString('hex'), '91f73e2351d8fa91660e909f');
    assert.equal(c.hp.toString('hex'), '45b95e15235d6f45a6b19cbcb0294ba9');
    const s = initialKeys(QUIC_V2, DCID, false)!;
    assert.equal(s.key.toString('hex'), '82db637861d55e1d011f19ea71d5d2a7');
    assert.equal(s.iv.toString('hex'), 'dd13c276499c0249d3310652');
    assert.equal(s.hp.toString('hex'), 'edf6d05c83121201b436e16877593c3a');
  });

  it('computes the header protection mask of A.2 and A.3', () => {
    assert.equal(
      headerMask(initialKeys(QUIC_V1, DCID, true)!.hp, CLIENT_SAMPLE)
        .subarray(0, 5)
        .toString('hex'),
      '437b9aec36',
    );
    assert.equal(
      headerMask(initialKeys(QUIC_V1, DCID, false)!.hp, hex('2cd0991cd25b0aac406a5816b6394100'))
        .subarray(0, 5)
        .toString('hex'),
      '2ec0d8356a',
    );
  });

  it('decrypts the server Initial of A.3 byte for byte', () => {
    const h = parseLongHeader(SERVER_PACKET, 0, SERVER_PACKET.length)!;
    assert.equal(h.type, PacketType.Initial);
    assert.equal(h.dcid.length, 0);
    assert.equal(h.scid.toString('hex'), 'f067a5502a4262b5');
    assert.equal(h.end, SERVER_PACKET.length);
    const d = decryptInitial(initialKeys(QUIC_V1, DCID, false)!, SERVER_PACKET, 0, h)!;
    assert.equal(d.pn, 1);
    assert.deepEqual(d.payload, SERVER_PAYLOAD);
  });

  it('protects the client Initial of A.2 to the RFC bytes, and decrypts it back', () => {
    const pkt = protect(QUIC_V1, DCID, true, CLIENT_HEADER, 18, 2, CLIENT_PAYLOAD);
    assert.equal(pkt.length, 1200);
    assert.deepEqual(pkt.subarray(0, 22), CLIENT_PROTECTED_HEADER);
    assert.deepEqual(pkt.subarray(22, 38), CLIENT_SAMPLE);
    assert.deepEqual(pkt.subarray(pkt.length - CLIENT_PACKET_END.length), CLIENT_PACKET_END);
    const h = parseLongHeader(pkt, 0, pkt.length)!;
    assert.equal(h.pnOffset, 18);
    const d = decryptInitial(initialKeys(QUIC_V1, DCID, true)!, pkt, 0, h)!;
    assert.equal(d.pn, 2);
    assert.deepEqual(d.payload, CLIENT_PAYLOAD);
  });

  it('protects the v2 client Initial of RFC 9369 A.2 to the RFC header bytes, and decrypts it back', () => {
    const pkt = protect(QUIC_V2, DCID, true, hex('d36b3343cf088394c8f03e5157080000449e00000002'), 18, 2, CLIENT_PAYLOAD);
    assert.equal(pkt.subarray(0, 32).toString('hex'), 'd76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485');
    const h = parseLongHeader(pkt, 0, pkt.length)!;
    assert.equal(h.type, PacketType.Initial);
    assert.deepEqual(decryptInitial(initialKeys(QUIC_V2, DCID, true)!, pkt, 0, h)!.payload, CLIENT_PAYLOAD);
  });

  it('rejects a packet whose tag or header was altered', () => {
    const keys = initialKeys(QUIC_V1, DCID, false)!;
    for (const at of [3, 20, 60, SERVER_PACKET.length - 1]) {
      const bad = Buffer.from(SERVER_PACKET);
      bad[at] ^= 0x10;
      const h = parseLongHeader(bad, 0, bad.length);
      if (h !== null) assert.equal(decryptInitial(keys, bad, 0, h), null, `byte ${at}`);
    }
  });

  it('decodes packet numbers as RFC 9000 A.3 does', () => {
    assert.equal(decodePacketNumber(0xa82f30ea, 0x9b32, 16), 0xa82f9b32);
    assert.equal(decodePacketNumber(-1, 2, 32), 2);
    assert.equal(decodePacketNumber(255, 1, 8), 257);
  });
});

describe('CRYPTO reassembly', () => {
  it('puts out-of-order, overlapping pieces together and gives the first message once whole', () => {
    const msg = Buffer.concat([Buffer.from([1, 0, 0, 10]), Buffer.from('0123456789')]);
    const a = new CryptoAssembler();
    assert.equal(a.write(8, msg, 8, 6), null);
    assert.equal(a.message(), null);
    assert.equal(a.write(0, msg, 0, 5), null);
    assert.equal(a.message(), null);
    assert.equal(a.write(3, msg, 3, 7), null);
    assert.deepEqual(a.message(), msg);
  });

  it('refuses a message longer than the bound, and too many pieces', () => {
    const a = new CryptoAssembler();
    const big = MAX_HELLO - 4 + 1;
    assert.match(a.write(0, Buffer.from([1, big >> 16, (big >> 8) & 0xff, big & 0xff]), 0, 4) ?? '', /exceeds/);
    const b = new CryptoAssembler();
    const one = Buffer.from([7]);
    let err: string | null = null;
    for (let i = 0; i < 100 && err === null; i++) err = b.write(10 + 2 * i, one, 0, 1);
    assert.match(err ?? '', /pieces/);
  });
});

describe('QUIC analyzer', () => {
  const scid = hex('f067a5502a4262b5');

  it('gives the ssl record from a ClientHello split out of order over two datagrams and a v1 ServerHello', () => {
    const c = collector('udp');
    const q = new QuicAnalyzer(c.opts);
    const ch = CLIENT_HELLO;
    // The second half first, in its own datagram, then the first half: the message is whole only after both.
    q.data(true, initialPacket(QUIC_V1, DCID, Buffer.alloc(0), true, 1, cryptoFrame(ch, 100, ch.length)), 0, 1197, 1);
    assert.equal(q.state, 'confirmed');
    assert.deepEqual(q.innerServices, []);
    q.data(true, initialPacket(QUIC_V1, DCID, Buffer.alloc(0), true, 0, cryptoFrame(ch, 0, 100)), 0, 1197, 1);
    assert.deepEqual(q.innerServices, ['ssl']);
    q.data(false, SERVER_PACKET, 0, SERVER_PACKET.length, 2);
    q.end(3);
    const [r, ...more] = tlsRecords(c.records);
    assert.equal(more.length, 0);
    assert.equal(r.server_name, 'example.com');
    assert.equal(r.version, 'TLSv13');
    assert.equal(r.cipher, 'TLS_AES_128_GCM_SHA256');
    assert.equal(r.curve, 'x25519');
    assert.equal(r.established, false);
    assert.equal(r.ssl_history, 'Cs');
  });

  it('reads v2 Initial packets coalesced with a packet of another type in one datagram', () => {
    const c = collector('udp');
    const mux = new AnalyzerMux('udp', (r) => c.records.push(r));
    const ch = CLIENT_HELLO;
    const clientInitial = initialPacket(QUIC_V2, DCID, Buffer.alloc(0), true, 0, cryptoFrame(ch, 0, ch.length));
    mux.data(true, clientInitial, 0, clientInitial.length, 1);
    const sh = SERVER_HELLO;
    const serverInitial = initialPacket(QUIC_V2, DCID, scid, false, 0, cryptoFrame(sh, 0, sh.length), 100);
    // A v2 Handshake packet (type bits 0b11) after it: skipped by its length.
    const handshake = Buffer.concat([Buffer.from([0xf0, 0x6b, 0x33, 0x43, 0xcf, 0, 8]), scid, varint2(30), Buffer.alloc(30, 0xaa)]);
    const dgram = Buffer.concat([serverInitial, handshake]);
    mux.data(false, dgram, 0, dgram.length, 2);
    mux.end(3);
    assert.deepEqual(mux.services, ['quic', 'ssl']);
    const [r] = tlsRecords(c.records);
    assert.equal(r.server_name, 'example.com');
    assert.equal(r.cipher, 'TLS_AES_128_GCM_SHA256');
  });

  it('rejects what is not QUIC, and a client Initial that does not decrypt', () => {
    const c = collector('udp');
    const q = new QuicAnalyzer(c.opts);
    q.data(true, Buffer.from('GET / HTTP/1.1\r\n'), 0, 16, 1);
    assert.equal(q.state, 'rejected');
    const q2 = new QuicAnalyzer(c.opts);
    const pkt = initialPacket(QUIC_V1, DCID, Buffer.alloc(0), true, 0, cryptoFrame(CLIENT_PAYLOAD, 0, 10));
    pkt[40] ^= 1;
    q2.data(true, pkt, 0, pkt.length, 1);
    assert.equal(q2.state, 'rejected');
  });

  it('never throws on mutated packets', () => {
    const r = rng(13);
    const ch = CLIENT_HELLO;
    const good = [initialPacket(QUIC_V1, DCID, Buffer.alloc(0), true, 0, cryptoFrame(ch, 0, ch.length)), SERVER_PACKET];
    for (let i = 0; i < 300; i++) {
      const c = collector('udp');
      const q = new QuicAnalyzer(c.opts);
      for (const [k, p] of good.entries()) {
        const m = mutate(p, r);
        q.data(k === 0, m, 0, m.length, 1);
      }
      q.end(2);
      for (const i of q.issues) assert.notEqual(i.code, 'internal', i.message);
    }
  });
});

describe('QUIC analyzer on authentic packets with mutated frames', () => {
  it('never throws and keeps its bounds when the decrypted frames are garbage', () => {
    const r = rng(9001);
    const frames = Buffer.concat([SERVER_PAYLOAD.subarray(0, 5), Buffer.from([1]), cryptoFrame(CLIENT_HELLO, 0, CLIENT_HELLO.length)]);
    for (let i = 0; i < 300; i++) {
      const c = collector('udp');
      const q = new QuicAnalyzer(c.opts);
      // Encrypted after mutation: the packet authenticates and the frame parser sees the garbage.
      const pkt = initialPacket(QUIC_V1, DCID, Buffer.alloc(0), true, 0, mutate(frames, r), 1000);
      q.data(true, pkt, 0, pkt.length, 1);
      q.end(2);
      assert.equal(q.state, 'confirmed');
      for (const x of q.issues) assert.notEqual(x.code, 'internal', x.message);
    }
  });
});

describe('QUIC on the corpus captures (Zeek ssl.log and conn.log service)', () => {
  const cases: [string, string, string | null][] = [
    ['zeek/quic/chromium-115.0.5790.110-api-cirrus-com.pcap', 'TLSv13/TLS_AES_128_GCM_SHA256', 'api.cirrus-ci.com'],
    ['zeek/quic/firefox-102.13.0esr-blog-cloudflare-com.pcap', 'TLSv13/TLS_AES_128_GCM_SHA256', 'blog.cloudflare.com'],
    ['zeek/quic/quic-39264-rand.pcap', 'TLSv13/TLS_AES_128_GCM_SHA256', 'tr6.snapchat.com'],
    ['zeek/quic/quicdoq.pcap', 'TLSv13/TLS_AES_128_GCM_SHA256', null],
    ['zeek/quic/quicv2-echo-443.pcap', 'TLSv13/TLS_AES_128_GCM_SHA256', 'localhost'],
    ['zeek/quic/quicv2-http3-443.pcap', 'TLSv13/TLS_AES_128_GCM_SHA256', null],
    ['zeek/quic/chromium-dpd-custom-port-4433.pcap', 'TLSv13/TLS_AES_128_GCM_SHA256', 'api.cirrus-ci.com'],
  ];
  for (const [file, vc, sni] of cases) {
    it(file, async function () {
      requireCorpus(this);
      const recs: AppRecordOut[] = [];
      const conns: ConnRecord[] = [];
      await analyzeFile(corpusPath(file), (c) => conns.push(c), { tracker: { payload: analyzerFactory((r) => recs.push(r)), verifyChecksums: true } });
      const tls = recs.filter((r) => r.kind === 'tls') as unknown as TlsLogRecord[];
      assert.equal(tls.length, 1);
      assert.equal(`${tls[0].version}/${tls[0].cipher}`, vc);
      assert.equal(tls[0].server_name, sni);
      assert.equal(tls[0].established, false);
      assert.deepEqual(
        conns.filter((c) => c.proto === 'udp').map((c) => c.service.join(',')),
        ['quic,ssl'],
      );
    });
  }
});
