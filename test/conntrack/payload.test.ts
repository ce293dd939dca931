/**
 * Payload hand-off on real captures: each TCP direction arrives as an ordered stream whose bytes
 * plus gaps equal the connection's sequence-space byte count, HTTP streams begin with a request
 * and a status line, and datagrams arrive one by one.
 */
import { strict as assert } from 'node:assert';
import { analyzeFile } from '../../src/analyze/pipeline';
import { type PayloadObserver, TcpStreams } from '../../parsers/conntrack/payload';
import { ReassemblyBudget } from '../../parsers/conntrack/reassembly';
import type { ConnRecord } from '../../parsers/record/conn';
import { corpusPath, requireCorpus } from '../util/corpus';
import type { ConnInfo } from '../../parsers/record/app';
import { runPackets } from './helpers';

class Recorder implements PayloadObserver {
  readonly text = ['', ''];
  readonly gaps = [0, 0];
  readonly datagrams: number[][] = [[], []];
  ended = 0;
  /** Each direction's end as signalled: which, and how many of its bytes had arrived by then. */
  readonly eods: [string, number][] = [];
  constructor(readonly info: ConnInfo) {}
  endOfDirection(isOrig: boolean): void {
    this.eods.push([isOrig ? 'orig' : 'resp', this.text[isOrig ? 0 : 1].length]);
  }
  stream(isOrig: boolean, buf: Buffer, off: number, len: number): void {
    this.text[isOrig ? 0 : 1] += buf.toString('latin1', off, off + len);
  }
  gap(isOrig: boolean, len: number): void {
    this.gaps[isOrig ? 0 : 1] += len;
  }
  datagram(isOrig: boolean, _buf: Buffer, _off: number, len: number): void {
    this.datagrams[isOrig ? 0 : 1].push(len);
  }
  end(): void {
    this.ended++;
  }
  services(): readonly string[] {
    return this.text[0].startsWith('GET ') ? ['http'] : [];
  }
}

async function run(file: string): Promise<{ recs: ConnRecord[]; obs: Map<string, Recorder> }> {
  const obs = new Map<string, Recorder>();
  const recs: ConnRecord[] = [];
  await analyzeFile(file, (r) => recs.push(r), {
    tracker: {
      payload: (info) => {
        const o = new Recorder(info);
        obs.set(info.uid, o);
        return o;
      },
    },
  });
  return { recs, obs };
}

describe('conntrack/payload: streams and datagrams handed to analysis', () => {
  it('wikipedia.pcap: TCP streams add up to the byte counts, HTTP starts right, services reach the record', async function () {
    requireCorpus(this);
    const { recs, obs } = await run(corpusPath('zeek/wikipedia.pcap'));
    let http = 0;
    for (const r of recs) {
      const o = obs.get(r.uid);
      assert.ok(o, r.uid);
      assert.equal(o.ended, 1, `${r.uid} ended once`);
      assert.equal(o.info.orig_h, r.orig_h);
      if (r.proto === 'tcp') {
        assert.equal(o.text[0].length + o.gaps[0], r.orig_bytes, `${r.uid} orig bytes`);
        assert.equal(o.text[1].length + o.gaps[1], r.resp_bytes, `${r.uid} resp bytes`);
        if (r.resp_p === 80 && o.text[0].length > 0 && o.gaps[0] === 0) {
          http++;
          assert.match(o.text[0], /^(GET|POST) \S+ HTTP\/1\.[01]\r\n/);
          if (o.text[1].length > 0 && o.gaps[1] === 0) assert.match(o.text[1], /^HTTP\/1\.[01] \d{3} /);
          assert.deepEqual(r.service, ['http']);
        }
      } else if (r.proto === 'udp') {
        assert.equal(o.datagrams[0].length, r.orig_pkts);
        assert.equal(o.datagrams[1].length, r.resp_pkts);
        assert.equal(
          o.datagrams[0].reduce((a, b) => a + b, 0),
          r.orig_bytes,
        );
      }
    }
    assert.ok(http >= 8, `${http} HTTP connections seen whole`);
  });

  it('tcp/missing-syn.pcap: a connection picked up mid-stream still streams from its first byte', async function () {
    requireCorpus(this);
    const { recs, obs } = await run(corpusPath('zeek/tcp/missing-syn.pcap'));
    const tcp = recs.filter((r) => r.proto === 'tcp');
    assert.ok(tcp.length >= 1);
    for (const r of tcp) {
      const o = obs.get(r.uid)!;
      assert.equal(o.text[0].length + o.gaps[0], r.orig_bytes);
      assert.equal(o.text[1].length + o.gaps[1], r.resp_bytes);
    }
  });

  it('http/no-version.pcap: each direction ends at its FIN, once, after all its bytes (the server closes first)', async function () {
    requireCorpus(this);
    const { recs, obs } = await run(corpusPath('zeek/http/no-version.pcap'));
    const [r] = recs.filter((x) => x.proto === 'tcp');
    assert.deepEqual(obs.get(r.uid)!.eods, [
      ['resp', 323],
      ['orig', 123],
    ]);
  });

  it('signals a FIN that arrives before a hole only once the hole is filled, and a RST where it sits', () => {
    const o = new Recorder({} as ConnInfo);
    const s = new TcpStreams(o, new ReassemblyBudget(1 << 20), 1 << 16);
    const b = Buffer.from('abcdef');
    s.segment(true, 4, b, 3, 3, 1); // 'def' at 4..6, held: 1..3 missing
    s.finish(true, 7, 1);
    assert.deepEqual(o.eods, []);
    s.segment(true, 1, b, 0, 3, 2);
    assert.deepEqual(o.eods, [['orig', 6]]);
    s.finish(true, 7, 3);
    assert.equal(o.eods.length, 1, 'once per direction');
    // A direction that never sent data: its RST at relative seq 1 ends it at once.
    s.finish(false, 1, 4);
    assert.deepEqual(o.eods, [
      ['orig', 6],
      ['resp', 0],
    ]);
  });

  it('lets the reassembly go once both directions ended and the observer is finished: nothing after the ends is delivered', () => {
    for (const finished of [true, false]) {
      const o = new Recorder({} as ConnInfo);
      let asked = 0;
      const obs = Object.assign(o, {
        finished: (): boolean => {
          asked++;
          return finished;
        },
      });
      const s = new TcpStreams(obs, new ReassemblyBudget(1 << 20), 1 << 16);
      const b = Buffer.from('abcdefgh');
      s.segment(true, 1, b, 0, 3, 1);
      s.finish(true, 4, 1);
      assert.equal(asked, 0, 'not asked while a direction is open');
      s.segment(false, 1, b, 3, 2, 2);
      s.finish(false, 3, 2);
      assert.equal(asked, 1, 'asked once both ended');
      // Bytes past the FINs (a broken stack, a crafted capture).
      s.segment(true, 4, b, 5, 3, 3);
      s.segment(false, 3, b, 5, 3, 3);
      s.close(4);
      assert.deepEqual(o.text, finished ? ['abc', 'de'] : ['abcfgh', 'defgh']);
    }
  });

  it('gives the shared budget back for bytes held past a FIN when the reassembly is let go', () => {
    const o = new Recorder({} as ConnInfo);
    const obs = Object.assign(o, { finished: (): boolean => true });
    const budget = new ReassemblyBudget(1 << 20);
    const s = new TcpStreams(obs, budget, 1 << 16);
    const b = Buffer.from('abcdefghij');
    s.segment(true, 1, b, 0, 3, 1);
    // Out of order and past the FIN that follows (relative 4): held, charged to the budget.
    s.segment(true, 8, b, 5, 4, 1);
    assert.equal(budget.used, 4);
    s.finish(true, 4, 1);
    s.segment(false, 1, b, 0, 2, 2);
    s.finish(false, 3, 2);
    assert.equal(budget.used, 0, 'nothing stays charged once the streams are let go');
    s.close(3);
    assert.deepEqual(o.text, ['abc', 'ab']);
  });
  it('lets an idle observer go with its reassembly: nothing more reaches it, its held bytes leave the budget, the record is as without one', () => {
    // One UDP flow (two datagrams) and one TCP connection with a segment held out of order; each
    // observer goes idle after its first delivery, or stays (the control).
    for (const goesIdle of [true, false]) {
      const made: Recorder[] = [];
      let budget: ReassemblyBudget | null = null;
      const { recs, tracker } = runPackets(
        [
          [100, { src: '10.0.0.1', dst: '10.0.0.2', proto: 17, sport: 5000, dport: 8125, len: 10 }],
          [100.1, { src: '10.0.0.1', dst: '10.0.0.2', proto: 17, sport: 5000, dport: 8125, len: 12 }],
          [101, { src: '10.0.0.3', dst: '10.0.0.4', sport: 40000, dport: 9999, flags: 'S', seq: 0 }],
          [101.1, { src: '10.0.0.4', dst: '10.0.0.3', sport: 9999, dport: 40000, flags: 'SA', seq: 0, ack: 1 }],
          [101.2, { src: '10.0.0.3', dst: '10.0.0.4', sport: 40000, dport: 9999, flags: 'A', seq: 1, ack: 1 }],
          // Bytes 11..15 before 1..10: held, charged to the shared budget.
          [101.3, { src: '10.0.0.3', dst: '10.0.0.4', sport: 40000, dport: 9999, flags: 'PA', seq: 11, ack: 1, len: 5 }],
          [101.4, { src: '10.0.0.4', dst: '10.0.0.3', sport: 9999, dport: 40000, flags: 'PA', seq: 1, ack: 1, len: 4 }],
          [101.5, { src: '10.0.0.4', dst: '10.0.0.3', sport: 9999, dport: 40000, flags: 'PA', seq: 5, ack: 1, len: 4 }],
        ],
        {
          payload: (info) => {
            const o = Object.assign(new Recorder(info), {
              idle: (): boolean => goesIdle && o.datagrams[0].length + o.datagrams[1].length + o.text[0].length + o.text[1].length > 0,
            });
            made.push(o);
            return o;
          },
        },
      );
      budget = (tracker as unknown as { reassemblyBudget: ReassemblyBudget }).reassemblyBudget;
      const [udp, tcp] = made;
      assert.deepEqual(udp.datagrams[0], goesIdle ? [10] : [10, 12]);
      assert.equal(tcp.text[1].length, goesIdle ? 4 : 8);
      assert.equal(udp.ended + tcp.ended, goesIdle ? 0 : 2, 'an idle observer is not told of the end');
      assert.equal(budget.used, 0);
      // The records do not change: the counts are the tracker's, not the observer's.
      const byPort = new Map(recs.map((r) => [r.resp_p, r]));
      assert.equal(byPort.get(8125)?.orig_bytes, 22);
      assert.equal(byPort.get(9999)?.resp_bytes, 8);
      assert.equal(byPort.get(9999)?.history, 'ShADd');
    }
  });
});
