import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { communityId, communityIdFromBytes, sha1Short } from '../../parsers/record/community-id';
import { corpusPath, requireCorpus } from '../util/corpus';

interface Tuple {
  proto: number;
  saddr: string;
  daddr: string;
  sport?: number;
  dport?: number;
  communityid: string;
}

describe('conntrack/community-id', () => {
  it('matches the spec vectors for TCP 1.2.3.4:1122 -> 5.6.7.8:3344', () => {
    assert.equal(communityId(0, 6, '1.2.3.4', '5.6.7.8', 1122, 3344), '1:wCb3OG7yAFWelaUydu0D+125CLM=');
    assert.equal(communityId(1, 6, '1.2.3.4', '5.6.7.8', 1122, 3344), '1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=');
    // direction does not matter
    assert.equal(communityId(0, 6, '5.6.7.8', '1.2.3.4', 3344, 1122), '1:wCb3OG7yAFWelaUydu0D+125CLM=');
  });

  it('orders equal addresses by port and never swaps one-way ICMP', () => {
    assert.equal(communityId(0, 17, '10.0.0.1', '10.0.0.1', 53, 5000), communityId(0, 17, '10.0.0.1', '10.0.0.1', 5000, 53));
    // type 3 (unreachable) is one-way: the two directions differ
    assert.notEqual(communityId(0, 1, '10.0.0.1', '10.0.0.2', 3, 1), communityId(0, 1, '10.0.0.2', '10.0.0.1', 3, 1));
    // echo request/reply are one flow
    assert.equal(communityId(0, 1, '10.0.0.1', '10.0.0.2', 8, 0), communityId(0, 1, '10.0.0.2', '10.0.0.1', 0, 0));
    // ICMPv6 144/145 (home agent discovery) pair
    assert.equal(communityId(0, 58, 'fe80::1', 'fe80::2', 144, 0), communityId(0, 58, 'fe80::2', 'fe80::1', 145, 0));
  });

  it('hashes every message length up to one block as node:crypto does', () => {
    // Deterministic bytes: every length a tuple can have and the rest of the one-block range.
    const m = new Uint8Array(55);
    let x = 0x12345678;
    for (let n = 0; n <= 55; n++) {
      for (let i = 0; i < n; i++) {
        x = (Math.imul(x, 1103515245) + 12345) | 0;
        m[i] = x >>> 24;
      }
      const h = sha1Short(m, n);
      const got = Buffer.alloc(20);
      for (let i = 0; i < 5; i++) got.writeInt32BE(h[i], 4 * i);
      assert.equal(got.toString('hex'), createHash('sha1').update(m.subarray(0, n)).digest('hex'), `length ${n}`);
    }
  });

  it('writes the base64 digest as Buffer does for IPv4 and IPv6 tuples and every seed byte', () => {
    const a = new Uint8Array(16);
    const b = new Uint8Array(16);
    for (let i = 0; i < 16; i++) {
      a[i] = (i * 37 + 5) & 0xff;
      b[i] = (i * 91 + 200) & 0xff;
    }
    for (const len of [4, 16]) {
      for (const seed of [0, 1, 255, 256, 65535]) {
        for (const [proto, sp, dp] of [
          [6, 1122, 3344],
          [17, 53, 65535],
          [132, 0, 9],
          [47, 0, 0],
        ]) {
          const buf = Buffer.alloc(40);
          let o = 0;
          buf.writeUInt16BE(seed, o);
          o += 2;
          buf.set(a.subarray(0, len), o);
          o += len;
          buf.set(b.subarray(0, len), o);
          o += len;
          buf[o++] = proto;
          buf[o++] = 0;
          if (proto !== 47) {
            buf.writeUInt16BE(sp, o);
            buf.writeUInt16BE(dp, o + 2);
            o += 4;
          }
          const want = `1:${createHash('sha1').update(buf.subarray(0, o)).digest('base64')}`;
          // a < b at byte 0, so (a, sp) is the lower endpoint and the tuple is hashed in this order.
          assert.equal(communityIdFromBytes(seed, proto, a, 0, b, 0, len, sp, dp), want, `len ${len} seed ${seed} proto ${proto}`);
        }
      }
    }
  });

  const files: [string, number, boolean][] = [
    ['community-id-spec/combined.pcap.community-id.baseline_deflt.json', 0, true],
    ['community-id-spec/combined.pcap.community-id.baseline_seed1.json', 1, true],
    ['community-id-spec/combined.pcap.community-id.baseline_nob64.json', 0, false],
  ];
  for (const [file, seed, b64] of files) {
    it(`reproduces every tuple of ${file.split('.').slice(-2, -1)[0]}`, function (this: Mocha.Context) {
      requireCorpus(this);
      const tuples = JSON.parse(fs.readFileSync(corpusPath(file), 'utf8')) as Tuple[];
      assert.ok(tuples.length >= 20);
      const protos = new Set<number>();
      for (const t of tuples) {
        // The baseline lists ICMP dport already mapped (counterpart type, or the code for one-way
        // types); passing it as the code yields the same value either way.
        const got = communityId(seed, t.proto, t.saddr, t.daddr, t.sport ?? 0, t.dport ?? 0, b64);
        assert.equal(got, t.communityid, `${JSON.stringify(t)}`);
        protos.add(t.proto);
      }
      for (const p of [1, 6, 17, 58, 132]) assert.ok(protos.has(p), `baseline covers proto ${p}`);
    });
  }
});
