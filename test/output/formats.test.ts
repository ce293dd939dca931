/**
 * Output formats on real records: the hand-written ndjson serialiser must equal JSON.stringify,
 * Zeek TSV must carry Zeek's unset-field conventions, zeek-json Zeek's dotted names.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { analyzeFile } from '../../src/analyze/pipeline';
import type { ConnRecord } from '../../parsers/record/conn';
import { createWriter, ndjsonLine, toZeekJson } from '../../src/output/formats';
import { TextSink } from '../../src/output/sink';
import { corpusAvailable, corpusPath } from '../util/corpus';

const SAMPLES = path.resolve(__dirname, '..', '..', '..', 'samples');

async function records(): Promise<ConnRecord[]> {
  const files = ['pod-traffic.pcap', 'vxlan-overlay.pcap', 'failed-connections.pcap', 'scan.pcap'].map((f) => path.join(SAMPLES, f));
  if (corpusAvailable()) files.push(corpusPath('zeek/wikipedia.pcap'), corpusPath('zeek/q-in-q.pcap'), corpusPath('zeek/tunnels/gre-sample.pcap'));
  const out: ConnRecord[] = [];
  for (const f of files) await analyzeFile(f, (r) => out.push(r));
  return out;
}

async function render(format: 'zeek' | 'zeek-json' | 'ndjson' | 'table', recs: ConnRecord[]): Promise<string> {
  const pt = new PassThrough();
  const chunks: Buffer[] = [];
  pt.on('data', (c: Buffer) => chunks.push(c));
  const w = createWriter(format, new TextSink(pt), () => new Date(Date.UTC(2026, 0, 15, 10, 0, 0)));
  for (const r of recs) w.write(r);
  await w.close();
  return Buffer.concat(chunks).toString('utf8');
}

describe('output formats', () => {
  let recs: ConnRecord[] = [];
  before(async () => {
    recs = await records();
  });

  it('the hand-written ndjson line equals JSON.stringify of the record', () => {
    for (const r of recs) assert.equal(ndjsonLine(r), `${JSON.stringify(r)}\n`);
    // Escaping and nulls, which these captures do not reach.
    const odd = {
      ...recs[0],
      service: ['a"b\\c'],
      tunnel_parents: ['C1', 'C2'],
      vlan: null,
      inner_vlan: 7,
      orig_l2_addr: null,
      tunnel_id: null,
      interim: true,
    };
    assert.equal(ndjsonLine(odd), `${JSON.stringify(odd)}\n`);
  });

  it('ndjson is our record as JSON, one per line', async () => {
    assert.ok(recs.length > 300);
    const lines = (await render('ndjson', recs)).split('\n');
    assert.equal(lines.pop(), '');
    assert.deepEqual(
      lines.map((l) => JSON.parse(l) as ConnRecord),
      recs,
    );
  });

  it('zeek TSV: header, unset duration and bytes for zero-duration connections, sets joined by commas', async () => {
    const text = await render('zeek', recs);
    const lines = text.split('\n');
    assert.equal(lines[0], '#separator \\x09');
    assert.equal(lines[6].split('\t')[0], '#fields');
    assert.equal(lines[7].split('\t')[0], '#types');
    const fields = lines[6].split('\t').slice(1);
    assert.equal(fields.length, lines[7].split('\t').length - 1);
    const body = lines.filter((l) => l && !l.startsWith('#')).map((l) => l.split('\t'));
    assert.equal(body.length, recs.length);
    body.forEach((cells, i) => {
      const r = recs[i];
      assert.equal(cells.length, fields.length);
      const get = (f: string): string => cells[fields.indexOf(f)];
      assert.equal(get('uid'), r.uid);
      assert.equal(get('id.orig_h'), r.orig_h);
      assert.equal(get('ts'), r.ts.toFixed(6));
      if (r.duration > 0) assert.equal(get('orig_bytes'), String(r.orig_bytes));
      else assert.deepEqual([get('duration'), get('orig_bytes'), get('resp_bytes')], ['-', '-', '-']);
      assert.equal(get('tunnel_parents'), r.tunnel_parents.length ? r.tunnel_parents.join(',') : '-');
      assert.equal(get('vlan'), r.vlan === null ? '-' : String(r.vlan));
    });
    assert.ok(
      body.some((c) => c[fields.indexOf('tunnel_parents')] !== '-'),
      'some records are inside tunnels',
    );
    assert.equal(lines[lines.length - 2], '#close\t2026-01-15-10-00-00');
  });

  it('zeek-json uses dotted id names and omits unset fields, as Zeek does', async () => {
    const text = await render('zeek-json', recs);
    const objs = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(objs.length, recs.length);
    objs.forEach((o, i) => {
      assert.deepEqual(o, JSON.parse(JSON.stringify(toZeekJson(recs[i]))));
      assert.equal(o['id.resp_p'], recs[i].resp_p);
      assert.equal('duration' in o, recs[i].duration > 0);
      assert.equal('vlan' in o, recs[i].vlan !== null);
    });
  });
});

describe('output sink', () => {
  it('delivers everything to a slow stream, reports congestion, and drain() resolves after many overflowing writes', async () => {
    const { Writable } = await import('node:stream');
    let received = 0;
    const slow = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _enc, cb) {
        received += chunk.length;
        setTimeout(cb, 1);
      },
    });
    const sink = new TextSink(slow);
    const line = `${'x'.repeat(999)}\n`;
    let sawCongestion = false;
    for (let i = 0; i < 5000; i++) {
      sink.write(line);
      const wait = sink.congestion();
      if (wait) {
        sawCongestion = true;
        // Half the time wait, half the time keep writing: drain() must cope with both.
        if (i % 2 === 0) await wait;
      }
    }
    await sink.end();
    assert.ok(sawCongestion);
    assert.equal(received, 5000 * 1000);
  });
});
