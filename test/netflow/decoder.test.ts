import * as assert from 'node:assert/strict';
import { NetflowDecoder, type DecoderOptions, type NetflowProblem } from '../../parsers/netflow/decoder';
import { IE, type FlowFields } from '../../parsers/netflow/fields';
import { FlowConverter } from '../../parsers/netflow/to-conn';
import type { ConnRecord } from '../../parsers/record/conn';
import { Bytes, ipfix, set, v5, v9 } from './build';
import { rng as prng } from '../util/rng';

/** Snapshot of the reused FlowFields (the decoder overwrites it per record). */
interface Flow {
  version: number;
  domain: number;
  templateId: number;
  ipVersion: number;
  src: number[];
  dst: number[];
  srcPort: number;
  dstPort: number;
  proto: number;
  tcpFlags: number;
  packets: number;
  bytes: number;
  startMs: number;
  endMs: number;
  inIf: number;
  outIf: number;
  vlan: number;
  direction: number;
  endReason: number;
  revPackets: number;
  revBytes: number;
  revTcpFlags: number;
  srcMac: number;
}

function snap(f: FlowFields): Flow {
  const n = f.ipVersion === 6 ? 16 : 4;
  return {
    version: f.version,
    domain: f.domain,
    templateId: f.templateId,
    ipVersion: f.ipVersion,
    src: [...f.src.subarray(0, n)],
    dst: [...f.dst.subarray(0, n)],
    srcPort: f.srcPort,
    dstPort: f.dstPort,
    proto: f.proto,
    tcpFlags: f.tcpFlags,
    packets: f.packets,
    bytes: f.bytes,
    startMs: f.startMs,
    endMs: f.endMs,
    inIf: f.inIf,
    outIf: f.outIf,
    vlan: f.vlan,
    direction: f.direction,
    endReason: f.endReason,
    revPackets: f.revPackets,
    revBytes: f.revBytes,
    revTcpFlags: f.revTcpFlags,
    srcMac: f.srcMac,
  };
}

function harness(opts: DecoderOptions = {}) {
  const flows: Flow[] = [];
  const conns: ConnRecord[] = [];
  const problems: NetflowProblem[] = [];
  const conv = new FlowConverter();
  const d = new NetflowDecoder(
    (f) => {
      flows.push(snap(f));
      const c = conv.toConn(f);
      if (c) conns.push(c);
    },
    { ...opts, onProblem: (p) => problems.push(p) },
  );
  return { d, flows, conns, problems };
}

// NetFlow v9 template 256 (RFC 3954 section 5.2 style): the common IPv4 elements.
const V9_FIELDS: Array<[number, number]> = [
  [IE.sourceIPv4Address, 4],
  [IE.destinationIPv4Address, 4],
  [IE.sourceTransportPort, 2],
  [IE.destinationTransportPort, 2],
  [IE.protocolIdentifier, 1],
  [IE.tcpControlBits, 1],
  [IE.packetDeltaCount, 4],
  [IE.octetDeltaCount, 4],
  [IE.flowStartSysUpTime, 4],
  [IE.flowEndSysUpTime, 4],
  [IE.ingressInterface, 2],
  [IE.egressInterface, 2],
  [IE.vlanId, 2],
  [IE.flowDirection, 1],
  [IE.flowEndReason, 1],
];

function v9Template(id: number, fields: Array<[number, number]> = V9_FIELDS): Buffer {
  const b = new Bytes().u16(id, fields.length);
  for (const [t, l] of fields) b.u16(t, l);
  return set(0, b);
}

function v9Record(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  proto: number,
  flags: number,
  pkts: number,
  bytes: number,
  first: number,
  last: number,
): Bytes {
  return new Bytes().ip4(src).ip4(dst).u16(sport, dport).u8(proto, flags).u32(pkts, bytes, first, last).u16(3, 7, 42).u8(0, 3);
}

function v9Data(id: number, ...recs: Bytes[]): Buffer {
  const body = new Bytes();
  for (const r of recs) body.raw(r.bytes());
  while ((body.length + 4) % 4) body.u8(0); // flowset padding to 32 bits (RFC 3954 5.3)
  return set(id, body);
}

const UNIX = 1_700_000_000;
const UPTIME = 100_000;

describe('netflow decoder: NetFlow v5', () => {
  it('decodes header and records, with times from sysUptime and unix_secs/nsecs', () => {
    const { d, flows, conns, problems } = harness();
    const dg = v5(UPTIME, UNIX, 250_000_000, 77, [
      {
        src: '10.0.0.1',
        dst: '10.0.0.2',
        sport: 40000,
        dport: 443,
        proto: 6,
        flags: 0x1b,
        pkts: 10,
        bytes: 5000,
        first: 90_000,
        last: 99_000,
        input: 4,
        output: 5,
      },
      { src: '10.0.0.3', dst: '8.8.8.8', sport: 0, dport: 0x0800, proto: 1, flags: 0, pkts: 1, bytes: 84, first: 95_000, last: 95_000 },
    ]);
    assert.equal(d.decode(dg, '192.0.2.1'), 2);
    assert.deepEqual(problems, []);
    assert.equal(flows[0].version, 5);
    assert.equal(flows[0].domain, 0x0102);
    assert.deepEqual(flows[0].src, [10, 0, 0, 1]);
    assert.equal(flows[0].startMs, UNIX * 1000 + 250 - 10_000);
    assert.equal(flows[0].endMs, UNIX * 1000 + 250 - 1_000);
    assert.equal(flows[0].inIf, 4);
    assert.equal(flows[0].outIf, 5);
    assert.equal(conns[0].conn_state, 'S2'); // SYN+ACK+FIN from the originator, one-way record
    assert.equal(conns[0].history, 'SADF');
    assert.equal(conns[0].duration, 9);
    assert.equal(conns[0].orig_ip_bytes, 5000);
    assert.equal(conns[0].orig_bytes, 5000 - 10 * 40);
    // ICMP echo request: type 8 code 0 from the destination port.
    assert.equal(conns[1].proto, 'icmp');
    assert.equal(conns[1].orig_p, 8);
    assert.equal(conns[1].resp_p, 0);
    assert.equal(conns[1].orig_bytes, 84 - 28);
    assert.equal(d.stats().get('192.0.2.1')?.lastSequence, 77);
  });

  it('reports a count larger than the datagram (or beyond 30) and emits none of its records', () => {
    const { d, flows, problems } = harness();
    const rec = { src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: 17, flags: 0, pkts: 1, bytes: 40, first: 1, last: 1 };
    const dg = v5(UPTIME, UNIX, 0, 1, [rec, rec], 3);
    assert.equal(d.decode(dg.subarray(0, dg.length - 5), 'x'), 0);
    assert.equal(flows.length, 0);
    assert.equal(d.lastMalformed, true);
    assert.equal(problems.length, 1);
    assert.match(problems[0].reason, /counts 3 records, datagram holds 1; datagram dropped/);
    assert.equal(problems[0].offset, 24 + 48);
    assert.equal(d.decode(v5(UPTIME, UNIX, 0, 1, Array(31).fill(rec)), 'x'), 0);
    assert.match(problems[1].reason, /count 31 exceeds the format's 30/);
    assert.equal(d.decode(dg.subarray(0, 10), 'x'), 0);
    assert.match(problems[2].reason, /v5 header needs 24 bytes/);
    assert.equal(d.decode(v5(UPTIME, UNIX, 0, 1, [rec, rec]), 'x'), 2);
    assert.equal(d.lastMalformed, false);
  });
});

describe('netflow decoder: NetFlow v9 (RFC 3954)', () => {
  it('decodes data flowsets with the template, skipping padding, times against the header', () => {
    const { d, flows, conns, problems } = harness();
    const dg = v9(
      UPTIME,
      UNIX,
      9,
      33,
      3,
      v9Template(256),
      v9Data(
        256,
        v9Record('10.1.0.1', '10.1.0.2', 5555, 53, 17, 0, 1, 61, 90_000, 90_000),
        v9Record('10.1.0.2', '10.1.0.1', 53, 5555, 17, 0, 1, 120, 90_010, 90_010),
      ),
    );
    assert.equal(d.decode(dg, '192.0.2.9', 1000), 2);
    assert.deepEqual(problems, []);
    assert.equal(flows[0].templateId, 256);
    assert.equal(flows[0].domain, 33);
    assert.equal(flows[0].startMs, UNIX * 1000 - 10_000);
    assert.equal(flows[1].endMs, UNIX * 1000 - 9_990);
    assert.equal(flows[0].vlan, 42);
    assert.equal(flows[0].direction, 0);
    assert.equal(flows[0].endReason, 3);
    assert.equal(flows[0].inIf, 3);
    assert.equal(conns[0].vlan, 42);
    assert.equal(conns[0].orig_bytes, 61 - 28);
    assert.equal(conns[0].conn_state, 'OTH');
    assert.equal(conns[0].history, 'D');
    assert.equal(d.stats().get('192.0.2.9')?.templates, 1);
  });

  it('resolves a flow that started before a sysUptime wrap into the past', () => {
    const { d, flows } = harness();
    // Uptime wrapped: the header says 1000 ms, the flow started 2000 ms before the wrap.
    const dg = v9(1000, UNIX, 1, 0, 2, v9Template(300), v9Data(300, v9Record('10.0.0.1', '10.0.0.2', 1, 2, 17, 0, 1, 40, 0xffffffff - 1999, 500)));
    d.decode(dg, 'e');
    assert.equal(flows[0].startMs, UNIX * 1000 - 3000);
    assert.equal(flows[0].endMs, UNIX * 1000 - 500);
  });

  it('decodes options templates and counts options records without emitting flows', () => {
    const { d, flows, problems } = harness();
    // Scope: system (type 1, 4 bytes); option: samplingInterval (34, 4 bytes).
    const tpl = set(1, new Bytes().u16(257, 4, 4).u16(1, 4).u16(34, 4).u16(0));
    const data = set(257, new Bytes().u32(0x0a000001, 100));
    d.decode(v9(UPTIME, UNIX, 1, 0, 2, tpl, data), 'e');
    assert.deepEqual(problems, []);
    assert.equal(flows.length, 0);
    assert.equal(d.stats().get('e')?.optionRecords, 1);
    assert.equal(d.stats().get('e')?.templates, 1);
  });

  it('holds data that arrives before its template and decodes it when the template comes', () => {
    const { d, flows, problems } = harness();
    const data = v9(UPTIME, UNIX, 1, 5, 1, v9Data(260, v9Record('10.0.0.1', '10.0.0.2', 1, 2, 6, 2, 1, 60, 99_000, 99_000)));
    assert.equal(d.decode(data, 'e', 0), 0);
    assert.equal(d.heldSets, 1);
    // Same template id from another source id or another exporter must not decode it.
    d.decode(v9(UPTIME + 5000, UNIX + 5, 2, 6, 1, v9Template(260)), 'e', 10);
    d.decode(v9(UPTIME + 5000, UNIX + 5, 2, 5, 1, v9Template(260)), 'other', 10);
    assert.equal(flows.length, 0);
    // Held data keeps its own header's times, not the later template datagram's.
    d.decode(v9(UPTIME + 5000, UNIX + 5, 2, 5, 1, v9Template(260)), 'e', 20);
    assert.equal(flows.length, 1);
    assert.equal(flows[0].startMs, UNIX * 1000 - 1000);
    assert.equal(d.stats().get('e')?.heldDecoded, 1);
    assert.equal(d.heldSets, 0);
    assert.deepEqual(problems, []);
  });

  it('bounds the hold: beyond it the oldest sets are counted as undecodable', () => {
    const { d } = harness({ maxHeldSets: 4 });
    for (let i = 0; i < 10; i++) {
      d.decode(v9(UPTIME, UNIX, i, 0, 1, v9Data(400 + i, v9Record('10.0.0.1', '10.0.0.2', 1, 2, 6, 2, 1, 60, 1, 1))), 'e', i);
    }
    assert.equal(d.heldSets, 4);
    assert.equal(d.stats().get('e')?.undecodableSets, 6);
    // ... and held sets time out.
    d.expire(60_000 + 10);
    assert.equal(d.heldSets, 0);
    assert.equal(d.stats().get('e')?.undecodableSets, 10);
  });

  it('expires templates not refreshed within the timeout, and evicts beyond maxTemplates', () => {
    const { d, flows } = harness({ templateTimeoutMs: 1000, maxTemplates: 2 });
    d.decode(v9(UPTIME, UNIX, 1, 0, 1, v9Template(256)), 'e', 0);
    const data = v9(UPTIME, UNIX, 2, 0, 1, v9Data(256, v9Record('10.0.0.1', '10.0.0.2', 1, 2, 6, 2, 1, 60, 1, 1)));
    d.decode(data, 'e', 500);
    assert.equal(flows.length, 1);
    d.decode(data, 'e', 20_000);
    assert.equal(flows.length, 1, 'template expired: data held');
    assert.equal(d.templateCount, 0);
    d.decode(v9(UPTIME, UNIX, 1, 0, 3, v9Template(256), v9Template(257), v9Template(258)), 'e', 30_000);
    assert.equal(d.templateCount, 2);
    // The set held since the expiry was decoded when 256 came back, before 258 evicted 256 again.
    assert.equal(flows.length, 2);
    d.decode(data, 'e', 30_001);
    assert.equal(flows.length, 2, '256 was evicted (least recently refreshed)');
    assert.equal(d.heldSets, 1);
  });

  it('reports broken templates and flowsets with offsets', () => {
    const { d, problems } = harness();
    const badLen = Buffer.concat([v9(UPTIME, UNIX, 1, 0, 1), new Bytes().u16(256, 400).u32(0).bytes()]);
    d.decode(badLen, 'e');
    assert.equal(problems[0].offset, 22);
    assert.match(problems[0].reason, /flowset 256 length 400 does not fit the 8 bytes left/);
    const shortTpl = v9(UPTIME, UNIX, 1, 0, 1, set(0, new Bytes().u16(256, 5).u16(8, 4)));
    d.decode(shortTpl, 'e');
    assert.match(problems[1].reason, /template 256 declares 5 fields, flowset ends first/);
    assert.equal(problems[1].offset, 28);
    const zero = v9(UPTIME, UNIX, 1, 0, 1, v9Template(256, [[IE.octetDeltaCount, 0]]));
    d.decode(zero, 'e');
    assert.match(problems[2].reason, /zero-length records/);
    assert.equal(d.decode(Buffer.from([0, 9, 0]), 'e'), 0);
    assert.match(problems[3].reason, /v9 header needs 20 bytes/);
    assert.equal(d.stats().get('e')?.malformed, 4);
  });
});

// IPFIX template 256: IPv6 addresses, enterprise and variable-length elements, millisecond times.
function ipfixTemplate256(): Buffer {
  return set(
    2,
    new Bytes()
      .u16(256, 11)
      .u16(IE.sourceIPv6Address, 16)
      .u16(IE.destinationIPv6Address, 16)
      .u16(IE.sourceTransportPort, 2)
      .u16(IE.destinationTransportPort, 2)
      .u16(IE.protocolIdentifier, 1)
      .u16(0x8000 | 100, 4)
      .u32(9) // enterprise-specific (Cisco) element, skipped by length
      .u16(IE.octetDeltaCount, 8)
      .u16(IE.packetDeltaCount, 8)
      .u16(0x8000 | 7, 65535)
      .u32(12345) // enterprise, variable length
      .u16(IE.flowStartMilliseconds, 8)
      .u16(IE.tcpControlBits, 2),
  );
}

const V6A = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6B = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const START = 1_700_000_123_456;

function ipfixRecord256(varLen: number): Bytes {
  const b = new Bytes().raw(V6A).raw(V6B).u16(50000, 443).u8(6).u32(0xdeadbeef).u64(123456789012).u64(1000);
  if (varLen < 255) b.u8(varLen);
  else b.u8(255).u16(varLen);
  return b.raw(new Array<number>(varLen).fill(0x41)).u64(START).u16(0x0012);
}

describe('netflow decoder: IPFIX (RFC 7011)', () => {
  it('decodes variable-length and enterprise fields, 64-bit counters and millisecond times', () => {
    const { d, flows, conns, problems } = harness();
    const dg = ipfix(UNIX, 7, 99, ipfixTemplate256(), set(256, new Bytes().raw(ipfixRecord256(3).bytes()).raw(ipfixRecord256(300).bytes())));
    assert.equal(d.decode(dg, '2001:db8::99'), 2);
    assert.deepEqual(problems, []);
    for (const f of flows) {
      assert.equal(f.ipVersion, 6);
      assert.deepEqual(f.src, V6A);
      assert.equal(f.bytes, 123456789012);
      assert.equal(f.packets, 1000);
      assert.equal(f.startMs, START);
      assert.equal(f.endMs, START, 'no end time: end = start');
      assert.equal(f.tcpFlags, 0x12);
      assert.equal(f.domain, 99);
    }
    assert.equal(conns[0].orig_h, '2001:db8::1');
    assert.equal(conns[0].resp_h, '2001:db8::2');
    assert.equal(conns[0].ts, START / 1000);
    assert.equal(d.stats().get('2001:db8::99')?.lastSequence, 7);
  });

  it('withdraws one template, then all templates of a domain', () => {
    const { d, flows } = harness();
    const tpl2 = set(2, new Bytes().u16(257, 2).u16(IE.sourceIPv4Address, 4).u16(IE.destinationIPv4Address, 4));
    d.decode(ipfix(UNIX, 1, 1, ipfixTemplate256(), tpl2), 'e');
    const data = ipfix(UNIX, 2, 1, set(256, ipfixRecord256(1)), set(257, new Bytes().ip4('10.0.0.1').ip4('10.0.0.2')));
    assert.equal(d.decode(data, 'e'), 2);
    d.decode(ipfix(UNIX, 3, 1, set(2, new Bytes().u16(256, 0))), 'e');
    assert.equal(d.stats().get('e')?.templatesWithdrawn, 1);
    assert.equal(d.decode(data, 'e'), 1, 'only 257 left');
    d.decode(ipfix(UNIX, 4, 1, set(2, new Bytes().u16(2, 0))), 'e');
    assert.equal(d.decode(data, 'e'), 0);
    assert.equal(d.templateCount, 0);
    assert.equal(flows.length, 3);
  });

  it('uses systemInitTimeMilliseconds from an options record for sysUpTime-relative times', () => {
    const { d, flows, problems } = harness();
    const optTpl = set(3, new Bytes().u16(258, 2, 1).u16(149, 4).u16(IE.systemInitTimeMilliseconds, 8));
    const opt = set(258, new Bytes().u32(1).u64(START));
    const tpl = set(
      2,
      new Bytes().u16(259, 4).u16(IE.sourceIPv4Address, 4).u16(IE.destinationIPv4Address, 4).u16(IE.flowStartSysUpTime, 4).u16(IE.flowEndSysUpTime, 4),
    );
    const data = set(259, new Bytes().ip4('10.0.0.1').ip4('10.0.0.2').u32(1500, 2500));
    d.decode(ipfix(UNIX, 1, 4, optTpl, opt, tpl, data), 'e');
    assert.deepEqual(problems, []);
    assert.equal(flows[0].startMs, START + 1500);
    assert.equal(flows[0].endMs, START + 2500);
  });

  it('reads RFC 5103 reverse elements into a two-sided record', () => {
    const { conns } = (() => {
      const h = harness();
      const tpl = set(
        2,
        new Bytes()
          .u16(260, 9)
          .u16(IE.sourceIPv4Address, 4)
          .u16(IE.destinationIPv4Address, 4)
          .u16(IE.sourceTransportPort, 2)
          .u16(IE.destinationTransportPort, 2)
          .u16(IE.protocolIdentifier, 1)
          .u16(IE.packetDeltaCount, 4)
          .u16(IE.tcpControlBits, 1)
          .u16(0x8000 | IE.packetDeltaCount, 4)
          .u32(29305)
          .u16(0x8000 | IE.tcpControlBits, 1)
          .u32(29305),
      );
      // Forward side is the server (as softflowd may export it): the reverse side sent the bare SYN.
      const data = set(260, new Bytes().ip4('10.0.0.2').ip4('10.0.0.1').u16(80, 40000).u8(6).u32(4).u8(0x13).u32(5).u8(0x03));
      h.d.decode(ipfix(UNIX, 1, 1, tpl, data), 'e');
      return h;
    })();
    assert.equal(conns.length, 1);
    assert.equal(conns[0].orig_h, '10.0.0.1');
    assert.equal(conns[0].orig_p, 40000);
    assert.equal(conns[0].orig_pkts, 5);
    assert.equal(conns[0].resp_pkts, 4);
    assert.equal(conns[0].conn_state, 'SF');
    assert.equal(conns[0].history, 'ShFf'); // no byte counters: no D/d
  });

  it('reports hostile sets: lengths past the message, truncated messages, fields past the set', () => {
    const { d, flows, problems } = harness();
    const ok = ipfix(UNIX, 1, 1, ipfixTemplate256(), set(256, ipfixRecord256(4)));
    const find = (re: RegExp): NetflowProblem => {
      const p = problems.find((x) => re.test(x.reason));
      assert.ok(p, `no problem matching ${re}: ${JSON.stringify(problems)}`);
      return p;
    };
    // Message length beyond the datagram: the intact template set is still read, the cut data set reported.
    assert.equal(d.decode(ok.subarray(0, ok.length - 10), 'e'), 0);
    assert.equal(find(/message length \d+ exceeds/).offset, 2);
    assert.match(find(/set 256 length/).reason, /does not fit/);
    assert.equal(d.stats().get('e')?.templates, 1);
    // A variable-length field claiming more than the set holds.
    const rec = ipfixRecord256(4).bytes();
    rec[16 + 16 + 5 + 4 + 16] = 200;
    d.decode(ipfix(UNIX, 1, 1, set(256, rec)), 'e');
    assert.equal(find(/template 256: field 9 \(200 bytes\) runs past the set end/).offset, 16 + 4 + 58);
    // Template id below 256, set length under 4, reserved set id, unknown version.
    d.decode(ipfix(UNIX, 1, 1, set(2, new Bytes().u16(5, 1).u16(8, 4))), 'e');
    assert.equal(find(/template id 5 is below 256/).offset, 20);
    const tiny = ipfix(UNIX, 1, 1, set(300, new Bytes()));
    tiny.writeUInt16BE(2, 18);
    d.decode(tiny, 'e');
    assert.equal(find(/set 300 length 2/).offset, 18);
    d.decode(ipfix(UNIX, 1, 1, set(17, new Bytes().u32(0))), 'e');
    find(/reserved set id 17/);
    d.decode(Buffer.from([0, 7, 1, 2]), 'e');
    find(/unsupported version 7/);
    assert.equal(flows.length, 0);
    for (const p of problems) assert.equal(p.exporter, 'e');
  });
});

describe('netflow decoder: random mutations never throw', () => {
  const seeds: Buffer[] = [
    v5(UPTIME, UNIX, 0, 1, [{ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: 6, flags: 0x12, pkts: 3, bytes: 120, first: 5, last: 9 }]),
    v9(UPTIME, UNIX, 1, 0, 2, v9Template(256), v9Data(256, v9Record('10.0.0.1', '10.0.0.2', 1, 2, 6, 2, 1, 60, 1, 1))),
    v9(UPTIME, UNIX, 1, 0, 2, set(1, new Bytes().u16(257, 4, 4).u16(1, 4).u16(34, 4).u16(0)), set(257, new Bytes().u32(1, 2))),
    ipfix(UNIX, 1, 1, ipfixTemplate256(), set(256, ipfixRecord256(2))),
    ipfix(UNIX, 1, 1, set(3, new Bytes().u16(258, 2, 1).u16(149, 4).u16(160, 8)), set(258, new Bytes().u32(1).u64(START))),
  ];

  it('survives 6000 mutated datagrams (flips, truncations, length fields, insertions)', function () {
    this.timeout(60_000);
    const rnd = prng(0x5eed);
    const { d, problems } = harness({ maxHeldSets: 64 });
    let flows = 0;
    for (let i = 0; i < 6000; i++) {
      const base = seeds[i % seeds.length];
      let b = Buffer.from(base);
      const kind = Math.floor(rnd() * 5);
      const n = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < n; k++) {
        const at = Math.floor(rnd() * b.length);
        if (kind === 0) b[at] ^= 1 << Math.floor(rnd() * 8);
        else if (kind === 1) b[at] = Math.floor(rnd() * 256);
        else if (kind === 2) b = b.subarray(0, at);
        else if (kind === 3 && at + 1 < b.length) b.writeUInt16BE([0, 1, 3, 4, 255, 65535, 256, Math.floor(rnd() * 65536)][Math.floor(rnd() * 8)], at);
        else b = Buffer.concat([b.subarray(0, at), Buffer.from([Math.floor(rnd() * 256), 0xff]), b.subarray(at)]);
      }
      // Template first sometimes, so data sets meet mutated and intact templates alike.
      if (rnd() < 0.3) d.decode(seeds[i % seeds.length], 'x', i);
      flows += d.decode(b, rnd() < 0.5 ? 'x' : 'y', i);
    }
    assert.ok(problems.length > 500, `expected many reports, got ${problems.length}`);
    assert.ok(flows > 500, `expected many surviving flows, got ${flows}`);
    for (const p of problems) assert.ok(p.offset >= 0 && Number.isInteger(p.offset) && p.reason.length > 0);
  });

  it('survives 2000 random datagrams with v5/v9/IPFIX version fields', () => {
    const rnd = prng(42);
    const { d } = harness();
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.alloc(Math.floor(rnd() * 200));
      for (let k = 0; k < b.length; k++) b[k] = Math.floor(rnd() * 256);
      if (b.length >= 2) b.writeUInt16BE([5, 9, 10][i % 3], 0);
      if (b.length >= 4 && i % 3 === 2) b.writeUInt16BE(b.length, 2);
      d.decode(b, 'z', i);
    }
    assert.equal(d.stats().get('z')?.datagrams, 2000);
  });
});
