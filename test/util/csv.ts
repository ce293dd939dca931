/**
 * RFC 4180 rows for tests (quoted fields, doubled quotes, separators and line breaks inside
 * quotes), written here rather than taken from an implementation under test. `lineEnd` is what
 * ends a record: CRLF for what we write, LF for files such as ECS's fields CSV. A last record
 * without a line end is returned too; callers that require one check the text themselves.
 */
export function csvRows(text: string, lineEnd: '\r\n' | '\n'): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (text.startsWith(lineEnd, i)) {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i += lineEnd.length - 1;
    } else cell += c;
  }
  if (cell !== '' || row.length > 0) rows.push([...row, cell]);
  return rows;
}
