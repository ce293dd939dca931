/**
 * Zeek's ASCII writer rules as zeek-cut reads them, on spec-shaped strings and on a corpus
 * record: the set separator escaped only inside containers, '-' as \x2d, UTF-8 kept and invalid
 * bytes as \xHH (TSV and JSON), interval vectors with their decimals, Zeek's http.log and ssl.log
 * columns in Zeek's order.
 */
import { strict as assert } from 'node:assert';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory } from '../../src/analyze/app';
import { zeekAppHeader, zeekAppJson, zeekAppLine } from '../../src/output/app-formats';
import { jsonText, tsvElement, tsvEscape } from '../../src/output/zeek-tsv';
import type { AppRecordOut } from '../../parsers/record/app';
import { corpusPath, requireCorpus } from '../util/corpus';
import { readFileSync } from 'node:fs';

describe('output: Zeek ASCII writer', () => {
  it('escapes the set separator only inside set/vector values, and a lone "-"', () => {
    assert.equal(tsvEscape('a,b'), 'a,b');
    assert.equal(tsvElement('a,b'), 'a\\x2cb');
    assert.equal(tsvEscape('-'), '\\x2d');
    assert.equal(tsvElement('-'), '\\x2d');
    assert.equal(tsvEscape('a-b'), 'a-b');
    assert.equal(tsvEscape('tab\there\\'), 'tab\\x09here\\x5c');
  });

  it('writes valid UTF-8 as is and each byte of invalid UTF-8 as \\xHH (wire strings are latin1, a character per byte)', () => {
    const utf8 = Buffer.from('rühma ✓', 'utf8').toString('latin1');
    assert.equal(tsvEscape(utf8), 'rühma ✓');
    assert.equal(jsonText(utf8), 'rühma ✓');
    const latin1 = Buffer.from([0x72, 0xfc, 0x68]).toString('latin1');
    assert.equal(tsvEscape(latin1), 'r\\xfch');
    assert.equal(jsonText(latin1), 'r\\xfch');
    // Overlong encoding and a lone continuation byte are invalid.
    assert.equal(tsvEscape(Buffer.from([0xc0, 0xaf, 0x80]).toString('latin1')), '\\xc0\\xaf\\x80');
    // Text already decoded (our own logs' fields) is kept.
    assert.equal(tsvEscape('émile', true), 'émile');
  });

  describe('corpus', () => {
    before(function () {
      requireCorpus(this);
    });

    async function app(rel: string): Promise<AppRecordOut[]> {
      const recs: AppRecordOut[] = [];
      await analyzeFile(corpusPath(rel), () => undefined, { tracker: { payload: analyzerFactory((r) => recs.push(r)) } });
      return recs;
    }

    it('dns.log: TTLs as vector[interval] with six decimals; opcode columns last, as in the dns.log of Zeek', async () => {
      const [d] = (await app('zeek/dnssec/ds.pcap')).filter((r) => r.kind === 'dns' && r.answers !== null);
      const cells = zeekAppLine(d).trimEnd().split('\t');
      const fields = zeekAppHeader('dns', new Date(0))
        .split('\n')
        .find((l) => l.startsWith('#fields'))!
        .split('\t')
        .slice(1);
      const ttl = cells[fields.indexOf('TTLs')];
      assert.match(ttl, /^\d+\.000000(,\d+\.000000)*$/);
      assert.deepEqual(fields.slice(-2), ['opcode', 'opcode_name']);
      assert.equal(cells[fields.indexOf('opcode_name')], 'query');
    });

    it("http.log and ssl.log carry Zeek's default columns in Zeek's order", () => {
      for (const [kind, baseline] of [
        ['http', 'zeek/http/http-bad-request-with-version.pcap.zeek.scripts.base.protocols.http.http-bad-request-with-version.http.log'],
        ['tls', 'zeek/tls/tls1.2.pcap.zeek.scripts.base.protocols.ssl.tls-1.2.ssl.log'],
      ] as const) {
        const zeek = readFileSync(corpusPath(baseline), 'utf8')
          .split('\n')
          .find((l) => l.startsWith('#fields'))!
          .split('\t')
          .slice(1);
        const ours = zeekAppHeader(kind, new Date(0))
          .split('\n')
          .find((l) => l.startsWith('#fields'))!
          .split('\t')
          .slice(1);
        assert.deepEqual(ours.slice(0, zeek.length), zeek);
      }
    });

    it('http.log line: tags (empty), unset file-analysis columns, the URI decoded and its invalid byte escaped (www-odd-url baseline)', async () => {
      const [h] = (await app('zeek/www-odd-url.pcap')).filter((r) => r.kind === 'http');
      const baseline = readFileSync(corpusPath('zeek/www-odd-url.pcap.zeek.scripts.base.frameworks.logging.ascii-escape-odd-url.http.log'), 'utf8')
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('#'));
      const zeekUri = baseline[0].split('\t')[9];
      assert.equal(zeekAppJson(h).uri, zeekUri);
      const cells = zeekAppLine(h).split('\t');
      assert.equal(cells[9], zeekUri);
      assert.equal(cells[20], '(empty)');
    });
  });
});
