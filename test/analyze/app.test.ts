/**
 * A connection's analysis is let go once both its streams ended and nothing more can be logged
 * (an HTTP connection whose every transaction was logged), with its services kept for the record;
 * a transaction still waiting for its response keeps it until the connection ends.
 */
import { strict as assert } from 'node:assert';
import { analyzerFactory } from '../../src/analyze/app';
import { AnalyzerMux, DEFAULT_FACTORIES, startsOn } from '../../parsers/protocols/mux';
import type { AppRecordOut, ConnInfo } from '../../parsers/record/app';
import { dnsMessage } from '../../samples/lib/packet-builder';

const INFO: ConnInfo = { uid: 'Ctest', proto: 'tcp', orig_h: '10.0.0.1', orig_p: 40000, resp_h: '10.0.0.2', resp_p: 8080, ts: 1 };
const REQ = Buffer.from('GET /a HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1');
const RESP = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'latin1');

function observer(info: ConnInfo = INFO): { obs: NonNullable<ReturnType<ReturnType<typeof analyzerFactory>>>; recs: AppRecordOut[] } {
  const recs: AppRecordOut[] = [];
  const obs = analyzerFactory((r) => recs.push(r))({ ...info }, false);
  assert.ok(obs !== null);
  return { obs, recs };
}

describe('analyze/app: analysis let go when nothing more can be logged', () => {
  it('an HTTP connection whose transactions are all logged finishes once both streams ended, keeping its service', () => {
    const { obs, recs } = observer();
    obs.stream(true, REQ, 0, REQ.length, 1);
    obs.stream(false, RESP, 0, RESP.length, 2);
    assert.equal(recs.length, 1);
    obs.endOfDirection?.(true, 3);
    assert.equal(obs.finished?.(), false, 'the server may still send');
    obs.endOfDirection?.(false, 4);
    assert.equal(obs.finished?.(), true);
    // Nothing more is analysed: a request after the ends makes no record.
    obs.stream(true, REQ, 0, REQ.length, 5);
    obs.end(6);
    assert.equal(recs.length, 1);
    assert.deepEqual(obs.services(), ['http']);
    assert.equal(obs.partial?.(), false);
  });

  it('a request without its response keeps the analysis until the connection ends, which logs it', () => {
    const { obs, recs } = observer();
    obs.stream(true, REQ, 0, REQ.length, 1);
    obs.endOfDirection?.(true, 2);
    obs.endOfDirection?.(false, 3);
    assert.equal(obs.finished?.(), false);
    assert.equal(recs.length, 0);
    obs.end(4);
    assert.equal(recs.length, 1);
    assert.equal((recs[0] as { status_code: number | null }).status_code, null);
    assert.deepEqual(obs.services(), ['http']);
  });

  it('a response read to the close is logged at the server stream end, then the analysis finishes', () => {
    const { obs, recs } = observer();
    const open = Buffer.from('HTTP/1.0 200 OK\r\n\r\nbody', 'latin1');
    obs.stream(true, REQ, 0, REQ.length, 1);
    obs.stream(false, open, 0, open.length, 2);
    obs.endOfDirection?.(true, 3);
    assert.equal(recs.length, 0);
    obs.endOfDirection?.(false, 4);
    assert.equal(recs.length, 1);
    assert.equal(obs.finished?.(), true);
    obs.end(5);
    assert.equal(recs.length, 1);
  });

  it('a DNS/TCP connection finishes once its queries are answered and both streams ended; an unanswered one waits for the end', () => {
    const framed = (m: Buffer): Buffer => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);
    const q = framed(dnsMessage({ id: 9, response: false, questions: [{ name: 'db.default.svc.cluster.local', type: 1 }] }));
    const a = framed(dnsMessage({ id: 9, response: true, questions: [{ name: 'db.default.svc.cluster.local', type: 1 }] }));
    for (const answered of [true, false]) {
      const { obs, recs } = observer({ ...INFO, resp_p: 53 });
      obs.stream(true, q, 0, q.length, 1);
      if (answered) obs.stream(false, a, 0, a.length, 2);
      obs.endOfDirection?.(true, 3);
      obs.endOfDirection?.(false, 4);
      assert.equal(obs.finished?.(), answered);
      assert.equal(recs.length, answered ? 1 : 0);
      obs.end(5);
      assert.equal(recs.length, 1, 'the unanswered query is logged at the end');
      assert.deepEqual(obs.services(), ['dns']);
    }
  });
});

describe('analyze/app: payload no analyzer takes', () => {
  // A VXLAN header (flags 0x08, VNI 100) and the start of the Ethernet frame it carries: as a DNS
  // message, a query whose record counts do not fit the datagram.
  const vxlan = Buffer.from(['0800000000006400', '0a580af40217', '0a580af40222', '0800', '45000054'.repeat(8)].join(''), 'hex');
  const udp: ConnInfo = { ...INFO, proto: 'udp', resp_p: 4789 };

  it('no analyzer is tried on a VXLAN carrier flow, whatever it carries later, and it gets no service', () => {
    const recs: AppRecordOut[] = [];
    const obs = analyzerFactory((r) => recs.push(r))({ ...udp }, false)!;
    obs.datagram(true, vxlan, 0, vxlan.length, 1);
    // A DNS query later on the flow: its analysis was decided by the first datagram, as Zeek decides it.
    const q = dnsMessage({ id: 1, response: false, questions: [{ name: 'a.b', type: 1 }] });
    obs.datagram(true, q, 0, q.length, 2);
    obs.end(3);
    assert.deepEqual(recs, []);
    assert.deepEqual(obs.services(), []);
    assert.equal(obs.partial?.(), false);
    // What the analyzer itself makes of it: rejected, so leaving it out changes nothing.
    const mux = new AnalyzerMux('udp', () => {});
    mux.data(true, vxlan, 0, vxlan.length, 1);
    assert.equal(mux.confirmed, null);
    assert.ok(mux.done);
  });

  it('makes no multiplexer for such a flow (the DNS pre-filter reads a UDP datagram as the analyzer does)', () => {
    const dns = DEFAULT_FACTORIES.find((f) => f.name === 'dns')!;
    assert.equal(dns.accepts!(true, vxlan, 0, vxlan.length, 'udp'), false);
    assert.equal(startsOn('udp', undefined, -1, false, true, vxlan, 0, vxlan.length), false);
    const q = dnsMessage({ id: 1, response: false, questions: [{ name: 'a.b', type: 1 }] });
    assert.equal(startsOn('udp', undefined, -1, false, true, q, 0, q.length), true);
    // A port-attached candidate that refuses the first bytes still waits for the other direction's.
    const junk = Buffer.alloc(16, 0xff);
    assert.equal(startsOn('tcp', undefined, 9999, false, true, junk, 0, junk.length), false);
    assert.equal(startsOn('tcp', undefined, 8080, false, true, junk, 0, junk.length), true);
  });
  it('says it is idle once no analyzer can take the connection and nothing came of it, never while anything is kept', () => {
    // A VXLAN carrier: idle after its first datagram, not before.
    const carrier = analyzerFactory(() => {})({ ...udp }, false)!;
    assert.equal(carrier.idle?.(), false, 'no payload yet');
    carrier.datagram(true, vxlan, 0, vxlan.length, 1);
    assert.equal(carrier.idle?.(), true);
    assert.deepEqual(carrier.services(), []);
    assert.equal(carrier.partial?.(), false);
    // A finished HTTP connection lets its analysis go but keeps its service and tied records: not idle.
    const { obs, recs } = observer();
    obs.stream(true, REQ, 0, REQ.length, 1);
    obs.stream(false, RESP, 0, RESP.length, 2);
    obs.endOfDirection?.(true, 3);
    obs.endOfDirection?.(false, 4);
    assert.equal(obs.finished?.(), true);
    assert.equal(obs.idle?.(), false);
    assert.deepEqual(obs.services(), ['http']);
    assert.equal(recs.length, 1);
    // A connection an announcement gave a service keeps it whatever its payload: not idle either.
    const ended: string[][] = [];
    const hooks = { announce: () => {}, begin: () => ['ftp-data'], end: (_i: ConnInfo, s: readonly string[]) => ended.push([...s]) };
    const announced = analyzerFactory(() => {}, {}, hooks)({ ...udp }, false)!;
    announced.datagram(true, vxlan, 0, vxlan.length, 1);
    assert.equal(announced.idle?.(), false);
    assert.deepEqual(announced.services(), ['ftp-data']);
    announced.end(2);
    assert.deepEqual(ended, [['ftp-data']]);
  });
});
