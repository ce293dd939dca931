/**
 * Reader of Zeek ASCII logs as they appear in btest baselines: `#fields` headers, or the
 * plain header line that btest-diff-cut writes. Rows come back as column -> text.
 */
import * as fs from 'node:fs';

export type ZeekRow = Record<string, string>;

export function readZeekLog(file: string): ZeekRow[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  let fields: string[] | null = null;
  const rows: ZeekRow[] = [];
  for (const line of lines) {
    if (line === '' || line.startsWith('### ')) continue;
    if (line.startsWith('#fields\t')) {
      fields = line.slice('#fields\t'.length).split('\t');
      continue;
    }
    if (line.startsWith('#')) continue;
    const cells = line.split('\t');
    if (fields === null) {
      // btest-diff-cut output: the first non-comment line names the columns.
      fields = cells;
      continue;
    }
    const row: ZeekRow = {};
    for (const [i, f] of fields.entries()) row[f] = cells[i] ?? '';
    rows.push(row);
  }
  return rows;
}
