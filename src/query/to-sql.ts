/**
 * AST -> a parameterised SQLite WHERE clause. Column names come only from the field registry;
 * every value is a `?` parameter. NOT is NULL-safe (a missing value does not equal x), which is
 * what Elasticsearch's must_not does with documents lacking the field.
 */
import { instantSeconds, type Query, type RangeOp, type Value, type WildPart } from './ast';
import type { FieldDef } from './fields';

export type SqlParam = string | number | Buffer | null;

export interface SqlFragment {
  sql: string;
  params: SqlParam[];
}

/** SQLite GLOB: `*` and `?` wildcards; a literal `*`, `?` or `[` goes in brackets. */
export function globPattern(parts: WildPart[]): string {
  return parts.map((p) => (p.t === 'star' ? '*' : p.t === 'one' ? '?' : p.s.replace(/[*?[]/g, (c) => `[${c}]`))).join('');
}

function sqlValue(v: Value): SqlParam {
  switch (v.kind) {
    case 'string':
      return v.v;
    case 'number':
      return v.v;
    case 'boolean':
      return v.v ? 1 : 0;
    case 'ip':
      return v.key;
    case 'date':
      return instantSeconds(v.v);
  }
}

const OPS: Record<RangeOp, string> = { gt: '>', gte: '>=', lt: '<', lte: '<=' };

/** `cond` applied to each column of the field (any of them), or to each element of a JSON list. */
function perColumn(field: FieldDef, cond: (expr: string) => string, values: SqlParam[]): SqlFragment {
  const params: SqlParam[] = [];
  const parts = field.sql.columns.map((c) => {
    params.push(...values);
    return field.sql.json ? `EXISTS (SELECT 1 FROM json_each(${c}) WHERE ${cond('value')})` : cond(c);
  });
  return { sql: parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`, params };
}

export function toSql(q: Query): SqlFragment {
  switch (q.kind) {
    case 'all':
      return { sql: '1', params: [] };
    case 'and':
    case 'or': {
      const parts = q.children.map(toSql);
      return { sql: `(${parts.map((p) => p.sql).join(q.kind === 'and' ? ' AND ' : ' OR ')})`, params: parts.flatMap((p) => p.params) };
    }
    case 'not': {
      const inner = toSql(q.child);
      return { sql: `NOT IFNULL(${inner.sql}, 0)`, params: inner.params };
    }
    case 'term':
      return perColumn(q.field, (c) => `${c} = ?`, [sqlValue(q.value)]);
    case 'wildcard':
      return perColumn(q.field, (c) => `${c} GLOB ?`, [globPattern(q.parts)]);
    case 'cidr':
      return perColumn(q.field, (c) => `${c} BETWEEN ? AND ?`, [q.cidr.low, q.cidr.high]);
    case 'exists':
      if (q.field.sql.json) return { sql: q.field.sql.columns.map((c) => `json_array_length(${c}) > 0`).join(' OR '), params: [] };
      return { sql: `(${q.field.sql.columns.map((c) => `${c} IS NOT NULL`).join(' OR ')})`, params: [] };
    case 'range':
      return perColumn(q.field, (c) => `${c} ${OPS[q.op]} ?`, [sqlValue(q.value)]);
  }
}
