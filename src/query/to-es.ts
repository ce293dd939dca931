/**
 * AST -> Elasticsearch query DSL. Values go into the DSL as JSON values (never into a
 * query_string), so nothing the analyst types is re-interpreted by Elasticsearch.
 */
import { formatInstant, type Query, type Value, type WildPart } from './ast';

export type EsJson = null | boolean | number | string | EsJson[] | { [key: string]: EsJson };
export type EsQueryDsl = { [key: string]: EsJson };

function esValue(v: Value): EsJson {
  switch (v.kind) {
    case 'string':
      return v.v;
    case 'number':
      return v.v;
    case 'boolean':
      return v.v;
    case 'ip':
      return v.text;
    case 'date':
      return formatInstant(v.v);
  }
}

/** Elasticsearch's wildcard syntax: `*`, `?`, and `\` escaping a literal. */
export function esWildcard(parts: WildPart[]): string {
  return parts.map((p) => (p.t === 'star' ? '*' : p.t === 'one' ? '?' : p.s.replace(/[\\*?]/g, (c) => `\\${c}`))).join('');
}

export function toElasticsearch(q: Query): EsQueryDsl {
  switch (q.kind) {
    case 'all':
      return { match_all: {} };
    case 'and':
      return { bool: { filter: q.children.map(toElasticsearch) } };
    case 'or':
      return { bool: { should: q.children.map(toElasticsearch), minimum_should_match: 1 } };
    case 'not':
      return { bool: { must_not: [toElasticsearch(q.child)] } };
    case 'term':
      return { term: { [q.field.name]: esValue(q.value) } };
    case 'wildcard':
      return { wildcard: { [q.field.name]: { value: esWildcard(q.parts) } } };
    // `term` on an ip field takes a CIDR (range does not: it wants bounds).
    case 'cidr':
      return { term: { [q.field.name]: q.cidr.normalized } };
    case 'exists':
      return { exists: { field: q.field.name } };
    case 'range':
      return { range: { [q.field.name]: { [q.op]: esValue(q.value) } } };
  }
}
