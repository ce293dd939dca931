import { strict as assert } from 'node:assert';
import type { StreamAnalyzer, AnalyzerOptions } from '../../parsers/protocols/analyzer';
import { KafkaAnalyzer, MongoAnalyzer, MysqlAnalyzer, PostgresAnalyzer, RedisAnalyzer } from '../../parsers/protocols/datastores';
import { SshAnalyzer } from '../../parsers/protocols/ssh';
import { AnalyzerMux } from '../../parsers/protocols/mux';
import type { AnyAppRecord, AppIdRecord, SshLogRecord } from '../../parsers/record/app';
import { corpusPath, requireCorpus } from '../util/corpus';
import { readFlows } from './flows';
import { collector, feedSplit, mutate, plain, rng } from './helpers';

// ---- realistic first messages of each protocol, written from their specifications

const resp = (...args: string[]): Buffer => Buffer.from(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);

function pgStartup(params: Record<string, string>): Buffer {
  const body = Buffer.concat([...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)), Buffer.from([0])]);
  const h = Buffer.alloc(8);
  h.writeUInt32BE(8 + body.length, 0);
  h.writeUInt32BE(196608, 4);
  return Buffer.concat([h, body]);
}
const pgSslRequest = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

function mysqlPacket(seq: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq;
  return Buffer.concat([h, payload]);
}
const mysqlGreeting = mysqlPacket(
  0,
  Buffer.concat([
    Buffer.from([10]),
    Buffer.from('8.0.36\0'),
    Buffer.from([1, 0, 0, 0]),
    Buffer.alloc(8, 0x41),
    Buffer.from([0, 0xff, 0xf7, 0x21, 2, 0, 0xff, 0xdf, 21]),
    Buffer.alloc(10),
    Buffer.alloc(12, 0x42),
    Buffer.from('\0caching_sha2_password\0'),
  ]),
);
function mysqlLogin(user: string): Buffer {
  const p = Buffer.alloc(32);
  p.writeUInt32LE(0x000fa685, 0); // PROTOCOL_41 | SECURE_CONNECTION | ... (no SSL)
  p.writeUInt32LE(16777216, 4);
  p[8] = 255;
  return mysqlPacket(1, Buffer.concat([p, Buffer.from(`${user}\0`), Buffer.from([0]), Buffer.from('orders\0')]));
}

function kafkaRequest(apiKey: number, apiVersion: number, corr: number, clientId: string, body: Buffer): Buffer {
  const id = Buffer.from(clientId);
  const h = Buffer.alloc(14);
  h.writeInt32BE(10 + id.length + body.length, 0);
  h.writeInt16BE(apiKey, 4);
  h.writeInt16BE(apiVersion, 6);
  h.writeInt32BE(corr, 8);
  h.writeInt16BE(id.length, 12);
  return Buffer.concat([h, id, body]);
}
function kafkaResponse(corr: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeInt32BE(4 + body.length, 0);
  h.writeInt32BE(corr, 4);
  return Buffer.concat([h, body]);
}

function bsonDoc(elems: [string, string | number][]): Buffer {
  const parts = elems.map(([k, v]) => {
    if (typeof v === 'number') {
      const n = Buffer.alloc(4);
      n.writeInt32LE(v);
      return Buffer.concat([Buffer.from([0x10]), Buffer.from(`${k}\0`), n]);
    }
    const s = Buffer.from(`${v}\0`);
    const l = Buffer.alloc(4);
    l.writeInt32LE(s.length);
    return Buffer.concat([Buffer.from([0x02]), Buffer.from(`${k}\0`), l, s]);
  });
  const body = Buffer.concat([...parts, Buffer.from([0])]);
  const l = Buffer.alloc(4);
  l.writeInt32LE(4 + body.length);
  return Buffer.concat([l, body]);
}
function mongoOpMsg(reqId: number, responseTo: number, doc: Buffer): Buffer {
  const h = Buffer.alloc(21);
  h.writeInt32LE(21 + doc.length, 0);
  h.writeInt32LE(reqId, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(2013, 12);
  h.writeUInt32LE(0, 16);
  h[20] = 0;
  return Buffer.concat([h, doc]);
}

type Make = (o: AnalyzerOptions) => StreamAnalyzer;
interface Case {
  name: string;
  make: Make;
  orig: Buffer;
  resp: Buffer;
  expect: Partial<AppIdRecord> | Partial<SshLogRecord>;
}

const CASES: Case[] = [
  {
    name: 'ssh',
    make: (o) => new SshAnalyzer(o),
    orig: Buffer.from('SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n\x00\x00\x05\xdc\x07\x14binary-kexinit'),
    resp: Buffer.from('SSH-2.0-dropbear_2022.83\r\n\x00\x00\x01\x0c\x0a\x14'),
    expect: { kind: 'ssh', version: 2, client: 'SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13', server: 'SSH-2.0-dropbear_2022.83' },
  },
  {
    name: 'redis',
    make: (o) => new RedisAnalyzer(o),
    orig: Buffer.concat([resp('HELLO', '3'), resp('AUTH', 'default', 's3cret'), resp('set', 'cart:42', 'x'.repeat(3000)), resp('GET', 'cart:42')]),
    resp: Buffer.from('%1\r\n+server\r\n+redis\r\n+OK\r\n+OK\r\n$4\r\nxxxx\r\n'),
    expect: { kind: 'app', protocol: 'redis', commands: ['HELLO', 'AUTH', 'SET', 'GET'] },
  },
  {
    name: 'postgresql',
    make: (o) => new PostgresAnalyzer(o),
    orig: pgStartup({ user: 'orders', database: 'orders_db', application_name: 'orders-api', client_encoding: 'UTF8' }),
    resp: Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]),
    expect: { kind: 'app', protocol: 'postgresql', user: 'orders', database: 'orders_db', application_name: 'orders-api', tls_requested: false },
  },
  {
    name: 'postgresql-ssl',
    make: (o) => new PostgresAnalyzer(o),
    orig: Buffer.concat([pgSslRequest, Buffer.from([0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5])]),
    resp: Buffer.from('S'),
    expect: { kind: 'app', protocol: 'postgresql', user: null, tls_requested: true, tls_accepted: true },
  },
  {
    name: 'mysql',
    make: (o) => new MysqlAnalyzer(o),
    orig: mysqlLogin('shop'),
    resp: mysqlGreeting,
    expect: { kind: 'app', protocol: 'mysql', server_version: '8.0.36', user: 'shop' },
  },
  {
    name: 'kafka',
    make: (o) => new KafkaAnalyzer(o),
    orig: Buffer.concat([kafkaRequest(18, 3, 1, 'rdkafka', Buffer.alloc(20)), kafkaRequest(3, 12, 2, 'rdkafka', Buffer.alloc(5000, 1))]),
    resp: Buffer.concat([kafkaResponse(1, Buffer.alloc(30)), kafkaResponse(2, Buffer.alloc(100))]),
    expect: { kind: 'app', protocol: 'kafka', client_id: 'rdkafka', commands: ['18/3', '3/12'] },
  },
  {
    name: 'mongodb',
    make: (o) => new MongoAnalyzer(o),
    orig: Buffer.concat([
      mongoOpMsg(
        1,
        0,
        bsonDoc([
          ['hello', 1],
          ['$db', 'admin'],
        ]),
      ),
      mongoOpMsg(
        2,
        0,
        bsonDoc([
          ['find', 'orders'],
          ['limit', 5],
          ['$db', 'shop'],
        ]),
      ),
    ]),
    resp: mongoOpMsg(100, 1, bsonDoc([['ok', 1]])),
    expect: { kind: 'app', protocol: 'mongodb', database: 'admin', commands: ['hello', 'find'] },
  },
];

/** Server-first protocols are fed responder bytes first. */
const serverFirst = new Set(['mysql']);

function run(k: Case, cutO: number[] = [], cutR: number[] = []): { recs: AnyAppRecord[]; a: StreamAnalyzer } {
  const c = collector('tcp');
  const a = k.make(c.opts);
  if (serverFirst.has(k.name)) {
    feedSplit(a, false, k.resp, cutR, 1);
    feedSplit(a, true, k.orig, cutO, 2);
  } else {
    feedSplit(a, true, k.orig, cutO, 1);
    feedSplit(a, false, k.resp, cutR, 2);
  }
  a.end(3);
  return { recs: plain(c.records), a };
}

describe('protocols/ssh and datastore identification', () => {
  for (const k of CASES) {
    it(`${k.name}: key fields; the same for every split offset; mux detects it alone; mutations never throw`, () => {
      const whole = run(k);
      assert.equal(whole.a.state, 'confirmed', JSON.stringify(whole.a.issues));
      assert.equal(whole.recs.length, 1);
      for (const [f, v] of Object.entries(k.expect)) assert.deepEqual((whole.recs[0] as unknown as Record<string, unknown>)[f], v, f);
      for (let i = 1; i < k.orig.length; i++) assert.deepEqual(run(k, [i]).recs, whole.recs, `orig cut at ${i}`);
      for (let i = 1; i < k.resp.length; i++) assert.deepEqual(run(k, [], [i]).recs, whole.recs, `resp cut at ${i}`);
      // Detection among all candidates.
      const recs: AnyAppRecord[] = [];
      const m = new AnalyzerMux('tcp', (r) => recs.push(r), { onIdentify: (r) => recs.push(r) });
      const order: [boolean, Buffer][] = serverFirst.has(k.name)
        ? [
            [false, k.resp],
            [true, k.orig],
          ]
        : [
            [true, k.orig],
            [false, k.resp],
          ];
      for (const [o, b] of order) m.data(o, b, 0, b.length, 1);
      m.end(2);
      // SSH is Zeek's service only once a NEWKEYS ends the key exchange: these banners and the start of a KEXINIT do not.
      assert.deepEqual(m.services, k.name === 'ssh' ? [] : [k.name.replace('-ssl', '')]);
      assert.deepEqual(plain(recs), whole.recs);
      const r = rng(k.name.length * 7919);
      for (let i = 0; i < 1500; i++) {
        const mo = mutate(k.orig, r);
        const mr = mutate(k.resp, r);
        run({ ...k, orig: mo, resp: mr }, [Math.floor(r() * mo.length)], [Math.floor(r() * mr.length)]);
      }
    });
  }

  it('a PostgreSQL-looking length with the wrong protocol code is rejected', () => {
    const bad = Buffer.from([0, 0, 0, 8, 0, 2, 0, 0]);
    const a = new PostgresAnalyzer(collector('tcp').opts);
    a.data(true, bad, 0, bad.length, 1);
    assert.equal(a.state, 'rejected');
  });

  it('zeek/ssh/ssh.client-side-half-duplex.pcap: every SSH banner, per connection', async function (this: Mocha.Context) {
    requireCorpus(this);
    // Oracle: tshark 4.0.17 `-Y ssh.protocol -T fields -e tcp.srcport -e ssh.protocol` on this capture (20 banners).
    const expected = [
      '51880 SSH-2.0-OpenSSH_5.9',
      '57189 SSH-2.0-OpenSSH_6.2',
      '57191 SSH-1.5-OpenSSH_6.2',
      '56594 SSH-1.5-OpenSSH_5.3',
      '56821 SSH-1.5-OpenSSH_6.2',
      '56837 SSH-1.5-OpenSSH_6.2',
      '56845 SSH-1.5-OpenSSH_6.2',
      '56875 SSH-1.5-OpenSSH_6.2',
      '56878 SSH-1.5-OpenSSH_6.2',
      '56940 SSH-1.5-OpenSSH_6.2',
      '57831 SSH-1.5-OpenSSH_6.2',
      '59246 SSH-2.0-OpenSSH_6.2',
      '41164 SSH-2.0-OpenSSH_6.6p1-hpn14v4',
      '33910 SSH-2.0-OpenSSH_6.6p1-hpn14v4',
      '41268 SSH-2.0-OpenSSH_6.6',
      '52294 SSH-2.0-OpenSSH_6.7',
      '51489 SSH-2.0-OpenSSH_6.7',
      '58641 SSH-2.0-OpenSSH_6.7',
      '58646 SSH-2.0-OpenSSH_6.7',
      '58649 SSH-2.0-OpenSSH_6.7',
    ];
    const flows = await readFlows(corpusPath('zeek/ssh/ssh.client-side-half-duplex.pcap'));
    const got: string[] = [];
    for (const f of flows) {
      if (f.proto !== 'tcp') continue;
      const recs: AnyAppRecord[] = [];
      const m = new AnalyzerMux('tcp', (r) => recs.push(r), { onIdentify: (r) => recs.push(r) });
      for (const ch of f.chunks) m.data(ch.isOrig, ch.data, 0, ch.data.length, ch.ts);
      m.end(Infinity);
      for (const r of recs) if (r.kind === 'ssh' && r.client !== null) got.push(`${f.orig_p} ${r.client}`);
    }
    assert.deepEqual(got.sort(), expected.sort());
  });
});
