/**
 * Our own ConnRecord NDJSON (as `eastwatch analyze --format ndjson` writes it, through the same
 * serializer) reads back into identical records, k8s identities included.
 */
import * as assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createWriter, ndjsonLine } from '../../src/output/formats';
import { TextSink } from '../../src/output/sink';
import { collect, sampleStream, textStream } from './helpers';

describe('flows: eastwatch ConnRecord NDJSON', () => {
  it('round-trips records written by the ndjson writer (Zeek and Hubble sources)', async () => {
    const zeek = await collect(sampleStream('wikipedia.conn.zeek.json'));
    const hubble = await collect(sampleStream('hubble-observe.json'));
    // One-way VPC records and a stitched pair: `observed` comes back too.
    const vpc = await collect(sampleStream('vpc-eks-v5.log'));
    const all = [...zeek.records, ...hubble.records, ...vpc.records];
    assert.equal(all.length, 42);
    assert.equal(all.filter((r) => r.observed === 'one-way').length, 3);
    assert.equal(all.filter((r) => r.stitched === true).length, 1);
    assert.deepEqual([...new Set(all.map((r) => r.source))], ['zeek', 'hubble', 'aws-vpc']);
    const back = await collect(textStream(all.map(ndjsonLine).join(''), 1000));
    assert.equal(back.summary.format, 'ndjson');
    assert.deepEqual(back.errors, []);
    // Everything but the source: these came in as NDJSON now (what ingestion and k8s/reresolve.ts go by).
    assert.deepEqual(
      back.records,
      all.map((r) => ({ ...r, source: 'ndjson' })),
    );
    // Records of a packet capture say so through NDJSON (an agent's shipped records); a bad source is named.
    const cap = await collect(textStream(ndjsonLine({ ...all[0], source: 'agent' }) + ndjsonLine({ ...all[1], source: 'capture' }), 1000));
    assert.deepEqual(
      cap.records.map((r) => r.source),
      ['agent', 'capture'],
    );
    const bad = await collect(textStream(`${JSON.stringify({ ...all[0], source: 'pcap' })}\n`, 1000));
    assert.equal(bad.errors[0]?.message, 'test: line 1: source: "pcap" is not one of capture, agent, hubble, aws-vpc, netflow, ipfix, zeek, ndjson');
  });

  it('reads a JSON array of records and rejects bad members with the line of the element', async () => {
    const { records } = await collect(sampleStream('wikipedia.conn.zeek.json'));
    const objs = records.slice(0, 3).map((r) => JSON.stringify(r, null, 1));
    const bad = JSON.stringify({ ...records[3], conn_state: 'XYZ' }, null, 1);
    const text = `[\n${[objs[0], bad, objs[1], objs[2]].join(',\n')}\n]\n`;
    const lineOfBad = 2 + objs[0].split('\n').length;
    // One byte at a time: element boundaries and strings cross every chunk boundary.
    const got = await collect(textStream(text, 1));
    assert.deepEqual(
      got.records,
      [records[0], records[1], records[2]].map((r) => ({ ...r, source: 'ndjson' })),
    );
    assert.equal(got.errors.length, 1);
    assert.equal(got.errors[0].line, lineOfBad);
    assert.equal(got.errors[0].message, `test: line ${lineOfBad}: conn_state: "XYZ" is not a Zeek conn_state`);
  });
});

describe('flows: our zeek and zeek-json writers read back', () => {
  for (const format of ['zeek', 'zeek-json'] as const) {
    it(`records written with --format ${format} come back equal (but for k8s, Hubble's report counts mark and tunnel_type/id, which those formats do not carry)`, async () => {
      const zeek = await collect(sampleStream('wikipedia.conn.zeek.json'));
      const hubble = await collect(sampleStream('hubble-observe.json'));
      const all = [...zeek.records, ...hubble.records];
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (c: Buffer) => chunks.push(c));
      const w = createWriter(format, new TextSink(out), () => new Date(Date.UTC(2026, 0, 15)));
      for (const r of all) w.write(r);
      await w.close();
      out.end();
      const back = await collect(textStream(Buffer.concat(chunks).toString('utf8'), 512));
      assert.equal(back.summary.format, format === 'zeek' ? 'zeek-tsv' : 'zeek-json');
      assert.deepEqual(back.errors, []);
      const expected = all.map((r) => {
        const { k8s: _k8s, counts: _counts, ...rest } = r;
        return { ...rest, tunnel_type: null, tunnel_id: null, source: 'zeek' };
      });
      assert.deepEqual(back.records, expected);
    });
  }
});
