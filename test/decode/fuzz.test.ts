import * as assert from 'node:assert/strict';
import type { CapturedPacket } from '../../parsers/capture/types';
import { DecodeStatus } from '../../parsers/decode/layers';
import { PacketDecoder } from '../../parsers/decode/decoder';
import { corpusPath, requireCorpus } from '../util/corpus';
import { loadCapture } from './load-pcap';
import { rng } from '../util/rng';

const FILES = [
  'zeek/wikipedia.pcap',
  'zeek/q-in-q.pcap',
  'zeek/tls/irc-starttls.pcap',
  'zeek/linux_dlt_sll2.pcap',
  'zeek/tunnels/vxlan.pcap',
  'zeek/tunnels/geneve.pcap',
  'zeek/tunnels/gre-sample.pcap',
  'zeek/tunnels/6in4.pcap',
  'zeek/ftp/ipv6.pcap',
  'zeek/ipv6-fragmented-dns.pcap',
  'zeek/ipv4/fragmented-1.pcap',
  'tcpdump/pptp.pcap',
  'community-id-spec/combined.pcap',
  'zeek/dns/ech.pcap',
  'zeek/cisco-fabric-path.pcap',
  'zeek/pppoe-over-qinq.pcap',
  'zeek/mpls-in-vlan.pcap',
  'zeek/radiotap.pcap',
  'zeek/ppp/quic-interop-retry.pcap',
  'zeek/erspanIII.pcap',
  'zeek/tunnels/gre-aruba-amsdu.pcap',
  'zeek/tunnels/teredo_bubble_with_payload.pcap',
  'zeek/tunnels/ayiya3.pcap',
  'zeek/tunnels/gtp/gtp1_gn_normal_incl_fragmentation.pcap',
];

describe('decode: fuzz (truncations and bit flips of corpus packets)', () => {
  it('never throws; valid layers stay inside their buffers', function () {
    requireCorpus(this);
    const pkts: CapturedPacket[] = [];
    for (const f of FILES) pkts.push(...loadCapture(corpusPath(f)));
    const rand = rng(0xeace);
    const dec = new PacketDecoder({ fragments: { maxDatagrams: 64 } });
    const out = dec.newPacket();
    const ITER = 20000;
    const seen = new Set<number>();
    for (let i = 0; i < ITER; i++) {
      const src = pkts[Math.floor(rand() * pkts.length)];
      const bytes = Buffer.from(src.buf.subarray(src.offset, src.offset + src.caplen));
      const mode = rand();
      let caplen = bytes.length;
      if (mode < 0.4) caplen = Math.floor(rand() * (bytes.length + 1));
      if (mode >= 0.3) {
        const flips = 1 + Math.floor(rand() * 8);
        // Bias flips towards headers, where the decisions are.
        for (let k = 0; k < flips && bytes.length > 0; k++) {
          const pos = Math.floor(rand() * Math.min(bytes.length, rand() < 0.8 ? 96 : bytes.length));
          bytes[pos] ^= 1 << Math.floor(rand() * 8);
        }
      }
      const p: CapturedPacket = {
        ...src,
        buf: bytes,
        offset: 0,
        caplen,
        origlen: rand() < 0.5 ? src.origlen : caplen,
        tsSec: src.tsSec + Math.floor(i / 100),
      };
      // Every packet of the frame: an A-MSDU holds several.
      for (let sub = 0; sub === 0 || dec.hasNext(); sub++) {
        let st: DecodeStatus;
        try {
          st = sub === 0 ? dec.decode(p, out) : dec.decodeNext(out);
        } catch (e) {
          assert.fail(`iteration ${i}: decode threw ${(e as Error).stack}`);
        }
        assert.ok(sub < 2048, `iteration ${i}: subframes never end`);
        seen.add(st);
        assert.ok(out.count >= 0 && out.count <= out.layers.length);
        assert.ok(out.repeated >= 0 && out.repeated <= out.count);
        for (let j = 0; j < out.count; j++) {
          const l = out.layers[j];
          assert.ok(l.srcOff + l.addrLen <= l.buf.length && l.dstOff + l.addrLen <= l.buf.length, `iteration ${i}: address in bounds`);
          assert.ok(l.capturedPayloadLen >= 0 && l.capturedPayloadLen <= l.payloadLen, `iteration ${i}: captured payload`);
          assert.ok(l.payloadOff + l.capturedPayloadLen <= l.buf.length, `iteration ${i}: payload in bounds`);
        }
        if (st === DecodeStatus.MALFORMED) {
          assert.ok(out.errorCode.length > 0 && out.errorMessage.length > 0);
          assert.ok(out.errorOffset >= 0, `iteration ${i}: error offset ${out.errorOffset}`);
        }
      }
    }
    assert.ok(seen.has(DecodeStatus.OK) && seen.has(DecodeStatus.MALFORMED) && seen.has(DecodeStatus.NOT_IP));
    assert.ok(dec.stats.pendingBytes >= 0);
  });
});
