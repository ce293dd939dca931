export { QueryError, formatInstant, instantFromSeconds, instantSeconds, type Instant, type Query, type Value, type WildPart, type RangeOp } from './ast';
export { parseQuery, parseInstant, type ParseOptions } from './parser';
export { toElasticsearch, esWildcard, type EsQueryDsl, type EsJson } from './to-es';
export { toSql, globPattern, type SqlFragment, type SqlParam } from './to-sql';
export {
  FIELDS,
  EITHER_ALIASES,
  CONN_FIELDS,
  FieldRegistry,
  resolveField,
  fieldDef,
  suggestField,
  allFieldNames,
  type FieldDef,
  type FieldType,
} from './fields';
export { ipKey, parseCidr, formatKey, type CidrRange } from './ip';
