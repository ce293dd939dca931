import * as assert from 'node:assert/strict';
import { formatAddress, formatMac, parseAddress } from '../../parsers/record/address';
import { DEFAULT_LOCAL_NETS, LocalNets } from '../../parsers/record/local-nets';
import { UidGenerator, base62of96 } from '../../parsers/record/uid';

const fmt = (s: string): string => {
  const b = parseAddress(s);
  assert.ok(b, s);
  return formatAddress(b, 0, b.length);
};

describe('conntrack/address', () => {
  it('prints IPv4 and IPv6 like Zeek (RFC 5952 / inet_ntop)', () => {
    assert.equal(fmt('141.142.220.118'), '141.142.220.118');
    assert.equal(fmt('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
    assert.equal(fmt('fe80:0:0:0:217:f2ff:fed7:cf65'), 'fe80::217:f2ff:fed7:cf65');
    assert.equal(fmt('ff02:0:0:0:0:0:1:3'), 'ff02::1:3');
    assert.equal(fmt('2001:db8:0:1:0:0:0:1'), '2001:db8:0:1::1'); // longest run wins
    assert.equal(fmt('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1'); // first of equal runs
    assert.equal(fmt('2001:db8:1:1:1:1:0:1'), '2001:db8:1:1:1:1:0:1'); // single zero group kept
    assert.equal(fmt('::'), '::');
    assert.equal(fmt('::1'), '::1');
    assert.equal(fmt('::ffff:192.0.2.1'), '::ffff:192.0.2.1');
    assert.equal(fmt('1::'), '1::');
  });
  it('formats MACs', () => {
    assert.equal(formatMac(Buffer.from([0, 0xd0, 3, 0x3b, 0xf4, 0]), 0), '00:d0:03:3b:f4:00');
  });
});

describe('conntrack/local-nets', () => {
  const ln = new LocalNets(DEFAULT_LOCAL_NETS);
  it('matches the default private ranges on bytes and strings', () => {
    for (const a of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.79', '100.64.0.1', '169.254.9.9', 'fd00::1', 'fe80::217:f2ff:fed7:cf65'])
      assert.equal(ln.containsAddress(a), true, a);
    for (const a of ['172.32.0.1', '8.8.8.8', '100.128.0.1', '2606:4700::1', 'ff02::fb', '141.142.220.118']) assert.equal(ln.containsAddress(a), false, a);
    const b = Buffer.from([0, 0, 192, 168, 0, 4]);
    assert.equal(ln.contains(b, 2, 4), true);
  });
  it("is Zeek's Site::private_address_space: loopback, this-network, broadcast, documentation, 6to4 images", () => {
    // Zeek logs local_orig/local_resp T for these by default (private_address_space_is_local), e.g. the
    // 127.0.0.1 FTP and Redis captures, DHCP 0.0.0.0 -> 255.255.255.255 and the ::1 CONNECT capture.
    const local = ['127.0.0.1', '0.0.0.0', '255.255.255.255', '::1', '::', '192.0.2.7', '198.18.0.1', '198.51.100.9', '203.0.113.200', '240.0.0.1'];
    const more = [
      '224.0.0.251',
      '239.114.155.111',
      'fec0::1',
      '2002:e000::1',
      '192.0.0.9',
      '2001:db8::1',
      '2001:0:4136:e378::1',
      '100::1',
      '64:ff9b:1::1',
      '2002:c0a8:0101::1',
      '2002:7f00:1::1',
      '2002:ffff:ffff::1',
    ];
    for (const a of [...local, ...more]) assert.equal(ln.containsAddress(a), true, a);
    // Routable multicast and the 6to4 image of a public address are not in Zeek's list; 2001:200::/23 is just past 2001::/23.
    for (const a of ['224.0.1.1', '238.1.1.1', '2002:808:808::1', '2001:200::1', '::2', '64:ff9b::808:808', '2002:c0a9::1'])
      assert.equal(ln.containsAddress(a), false, a);
  });
  it('supports arbitrary prefixes incl. /0 and host routes, and rejects bad CIDRs', () => {
    const x = new LocalNets(['141.142.220.0/24', '2001:470:1f11:81f::/64', '1.2.3.4']);
    assert.equal(x.containsAddress('141.142.220.255'), true);
    assert.equal(x.containsAddress('141.142.221.1'), false);
    assert.equal(x.containsAddress('2001:470:1f11:81f:c999:d94:aa7c:2e3e'), true);
    assert.equal(x.containsAddress('2001:470:1f11:820::1'), false);
    assert.equal(x.containsAddress('1.2.3.4'), true);
    assert.equal(x.containsAddress('1.2.3.5'), false);
    assert.equal(new LocalNets(['0.0.0.0/0']).containsAddress('8.8.8.8'), true);
    assert.throws(() => new LocalNets(['10.0.0.0/33']));
    assert.throws(() => new LocalNets(['nonsense/8']));
  });
});

describe('conntrack/uid', () => {
  it('is stable for the same input and looks like a Zeek uid', () => {
    const a = new UidGenerator();
    const b = new UidGenerator();
    const u1 = a.next('key-1', 1300000000, 123456000);
    assert.equal(u1, b.next('key-1', 1300000000, 123456000));
    assert.match(u1, /^C[0-9A-Za-z]{10,17}$/);
    assert.notEqual(u1, a.next('key-2', 1300000000, 123456000));
    assert.notEqual(u1, a.next('key-1', 1300000000, 123457000));
  });
  it('keeps uids unique when key and first timestamp repeat', () => {
    const g = new UidGenerator();
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) seen.add(g.next('same', 1, 2));
    assert.equal(seen.size, 5);
    const many = new Set<string>();
    for (let i = 0; i < 100000; i++) many.add(g.next(`k${i % 1000}`, 1000 + Math.floor(i / 1000), 0));
    assert.equal(many.size, 100000);
  });
  it('gives the uids it always gave, of both lengths', () => {
    // Values of the build before uids were spelt out per length (18 and 17 characters both here).
    const g = new UidGenerator();
    const got: string[] = [];
    for (let i = 0; i < 12; i++) got.push(g.next(`k${i}`, 1700000000 + i, i * 1000));
    assert.deepEqual(got, [
      'C1NEgmqSmDU1ueD2h8',
      'CyQ0EJG6M3h12uq2G',
      'C1Wd9YzYgSFD8Yf7ox',
      'C1IZ1NW0VvNRW8sCot',
      'CHOOWRVcngl6kKyCu',
      'C1GPflb4FjicQVJmai',
      'CzlCfhghQoXxNYT5U',
      'C15BUMDG9nvysxskHL',
      'C1VLSSN0qjwAjMF7gf',
      'CiCvHvii9zpSynP1m',
      'CErn2riDFM4y1LMW5',
      'Ca65HIS3IDgtaM43k',
    ]);
  });
  it('encodes 96 bits in base62', () => {
    assert.equal(base62of96(0, 0, 61), 'z');
    assert.equal(base62of96(0, 0, 62), '10');
    assert.equal(base62of96(0xffffffff, 0xffffffff, 0xffffffff), bigBase62(2n ** 96n - 1n));
    let x = 0x2545f491;
    const next = (): number => {
      x = (Math.imul(x, 1103515245) + 12345) | 0;
      return x >>> 0;
    };
    for (let i = 0; i < 2000; i++) {
      // Shorter numbers too: every digit count from 1 to 17.
      const hi = i % 3 === 0 ? 0 : next() >>> (i % 32);
      const mid = next();
      const lo = next();
      assert.equal(base62of96(hi, mid, lo), bigBase62((BigInt(hi) << 64n) | (BigInt(mid) << 32n) | BigInt(lo)));
    }
  });
});

function bigBase62(n: bigint): string {
  const a = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  let s = '';
  while (n > 0n) {
    s = a[Number(n % 62n)] + s;
    n /= 62n;
  }
  return s;
}
