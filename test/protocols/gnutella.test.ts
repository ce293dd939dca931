/**
 * The Gnutella handshake as Zeek's Gnutella analyzer bounds it: a line or header block above
 * Gnutella::max_line_length / max_header_length stops the analysis (history `X`). Zeek attaches the
 * analyzer only where a script registers it for a port, so it runs only when chosen, on 6346.
 */
import { strict as assert } from 'node:assert';
import { AnalyzerMux, type MuxOptions, selectAnalyzers } from '../../parsers/protocols/mux';
import type { ConnRecord } from '../../parsers/record/conn';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory } from '../../src/analyze/app';
import { corpusPath, requireCorpus } from '../util/corpus';

function run(respPort: number, chunks: [boolean, string][], opts: MuxOptions): AnalyzerMux {
  const m = new AnalyzerMux('tcp', () => undefined, { ...opts, respPort });
  let ts = 1;
  for (const [isOrig, text] of chunks) {
    const b = Buffer.from(text, 'latin1');
    m.data(isOrig, b, 0, b.length, ts++);
  }
  m.end(ts);
  return m;
}

describe('protocols/gnutella: handshake limits (Zeek Gnutella::max_line_length, max_header_length)', () => {
  const chosen = { ...selectAnalyzers(['gnutella']), gnutellaMaxLineLength: 100, gnutellaMaxHeaderLength: 300 };
  const connect = 'GNUTELLA CONNECT/0.6\r\nUser-Agent: test\r\n';

  it('stops at a line above the bound, in any chunking, and not at one of exactly the bound', () => {
    const long = `X-Long: ${'C'.repeat(200)}\r\n\r\n`;
    assert.equal(run(6346, [[true, connect + long]], chosen).partial, true);
    const pieces: [boolean, string][] = [...(connect + long)].map((c) => [true, c]);
    assert.equal(run(6346, pieces, chosen).partial, true);
    // 100 bytes before the CRLF (a CR is not counted): within the bound.
    const exact = `X-Long: ${'C'.repeat(92)}\r\n\r\n`;
    assert.equal(run(6346, [[true, connect + exact]], chosen).partial, false);
  });

  it('stops at a header block above its bound, made of short lines', () => {
    const lines = Array.from({ length: 20 }, (_, i) => `X-H${i}: ${'v'.repeat(10)}\r\n`).join('');
    assert.equal(run(6346, [[true, `${connect}${lines}\r\n`]], chosen).partial, true);
    assert.equal(run(6346, [[true, `${connect}${lines}\r\n`]], { ...chosen, gnutellaMaxHeaderLength: 1000 }).partial, false);
  });

  it('after both sides said 200 the binary descriptors are not read as lines', () => {
    const binary = '\x00'.repeat(500);
    const m = run(
      6346,
      [
        [true, `${connect}\r\n`],
        [false, 'GNUTELLA/0.6 200 OK\r\n\r\n'],
        [true, 'GNUTELLA/0.6 200 OK\r\n\r\n'],
        [true, binary],
      ],
      chosen,
    );
    assert.equal(m.partial, false);
  });

  it('runs only when chosen and only on its port, as Zeek attaches it by port alone', () => {
    const long = `${connect}X-Long: ${'C'.repeat(200)}\r\n\r\n`;
    assert.equal(run(6347, [[true, long]], chosen).partial, false);
    assert.equal(run(6346, [[true, long]], { gnutellaMaxLineLength: 100 }).partial, false);
  });

  it('zeek/gnutella/max-line.pcapng with the btest limits (100): history ShADXFf as the baseline', async function () {
    requireCorpus(this);
    const conns: ConnRecord[] = [];
    await analyzeFile(corpusPath('zeek/gnutella/max-line.pcapng'), (r) => (r.interim ? undefined : conns.push(r)), {
      tracker: { payload: analyzerFactory(() => undefined, { ...chosen, gnutellaMaxHeaderLength: 100 }) },
    });
    assert.deepEqual(
      conns.map((c) => [c.resp_p, c.history, c.service]),
      [[6346, 'ShADXFf', []]],
    );
  });
});
