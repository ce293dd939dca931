/**
 * Lexer and recursive-descent parser of the analyst query language (KQL/Arkime-like):
 *
 *   query    := or EOF | (empty: everything)
 *   or       := and (('or' | '||') and)*
 *   and      := unary (('and' | '&&') unary)*
 *   unary    := ('not' | '!') unary | '(' or ')' | clause
 *   clause   := FIELD (':' | '=' | '==') values | FIELD '!=' values | FIELD ('>'|'>='|'<'|'<=') VALUE
 *   values   := '*' | VALUE | '(' vor ')'         vor/vand/vnot: the same and/or/not over values
 *
 * Values: bare words (may hold ':' so IPv6 and times need no quotes; `\` escapes), or quoted
 * strings ("..." / '...', always literal). Unescaped `*` and `?` in a bare word on a keyword
 * field are wildcards. Every error is a QueryError carrying the character position.
 */
import { QueryError, type Instant, type Query, type RangeOp, type Value, type WildPart } from './ast';
import { CONN_FIELDS, type FieldDef, type FieldRegistry } from './fields';
import { ipKey, parseCidr } from './ip';

type TokType = 'word' | 'string' | 'lparen' | 'rparen' | 'colon' | 'neq' | 'cmp' | 'and' | 'or' | 'not' | 'eof';

interface Token {
  type: TokType;
  pos: number;
  /** Raw source text of the token. */
  raw: string;
  /** word/string: the characters after unescaping. */
  chars: string[];
  /** word/string: true where chars[i] was escaped or quoted (never a wildcard, never a separator). */
  literal: boolean[];
  /** word: source offset of each char. */
  offs: number[];
}

/**
 * Bounds on what one query may ask for, so that an analyst's request cannot exhaust the stack
 * (nesting), the backend's automaton builder (Elasticsearch refuses complex wildcards with a
 * 400; SQLite's GLOB backtracks) or the calendar (a time no Date can hold).
 */
export const MAX_QUERY_DEPTH = 64;
export const MAX_WILDCARDS = 16;
/** The instants a query may name: 1970-01-01 .. 9999-12-31T23:59:59Z. */
export const MAX_INSTANT_SECONDS = 253402300799;

const WORD_STOP = new Set([' ', '\t', '\n', '\r', '(', ')', '"', "'", '<', '>', '=', '!']);

function lex(q: string): Token[] {
  const out: Token[] = [];
  const simple = (type: TokType, pos: number, raw: string): Token => ({ type, pos, raw, chars: [], literal: [], offs: [] });
  let i = 0;
  while (i < q.length) {
    const c = q[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '(') {
      out.push(simple('lparen', i, c));
      i++;
      continue;
    }
    if (c === ')') {
      out.push(simple('rparen', i, c));
      i++;
      continue;
    }
    if (q.startsWith('&&', i)) {
      out.push(simple('and', i, '&&'));
      i += 2;
      continue;
    }
    if (q.startsWith('||', i)) {
      out.push(simple('or', i, '||'));
      i += 2;
      continue;
    }
    if (q.startsWith('!=', i)) {
      out.push(simple('neq', i, '!='));
      i += 2;
      continue;
    }
    if (c === '!') {
      out.push(simple('not', i, c));
      i++;
      continue;
    }
    if (q.startsWith('==', i)) {
      out.push(simple('colon', i, '=='));
      i += 2;
      continue;
    }
    if (c === '=') {
      out.push(simple('colon', i, c));
      i++;
      continue;
    }
    if (c === '<' || c === '>') {
      const raw = q[i + 1] === '=' ? `${c}=` : c;
      out.push(simple('cmp', i, raw));
      i += raw.length;
      continue;
    }
    if (c === '"' || c === "'") {
      const start = i;
      const t: Token = { type: 'string', pos: start, raw: '', chars: [], literal: [], offs: [] };
      i++;
      for (;;) {
        if (i >= q.length) throw new QueryError(`unterminated string (opened with ${c})`, start, q);
        const ch = q[i];
        if (ch === c) {
          i++;
          break;
        }
        if (ch === '\\') {
          if (i + 1 >= q.length) throw new QueryError(`unterminated string (opened with ${c})`, start, q);
          t.chars.push(q[i + 1]);
          t.offs.push(i + 1);
          i += 2;
        } else {
          t.chars.push(ch);
          t.offs.push(i);
          i++;
        }
        t.literal.push(true);
      }
      t.raw = q.slice(start, i);
      out.push(t);
      continue;
    }
    // A bare word.
    const start = i;
    const t: Token = { type: 'word', pos: start, raw: '', chars: [], literal: [], offs: [] };
    while (i < q.length && !WORD_STOP.has(q[i])) {
      if (q[i] === '\\') {
        if (i + 1 >= q.length) throw new QueryError('a backslash must be followed by the character it escapes', i, q);
        t.chars.push(q[i + 1]);
        t.literal.push(true);
        t.offs.push(i + 1);
        i += 2;
      } else {
        t.chars.push(q[i]);
        t.literal.push(false);
        t.offs.push(i);
        i++;
      }
    }
    t.raw = q.slice(start, i);
    if (t.raw === ':') t.type = 'colon';
    else if (/^(and|or|not)$/i.test(t.raw)) t.type = t.raw.toLowerCase() as TokType;
    out.push(t);
  }
  out.push(simple('eof', q.length, ''));
  return out;
}

export interface ParseOptions {
  /** "now" for relative times (now-15m); default the current time. */
  now?: Date;
  /** The fields of the record type queried; default the connection records'. */
  fields?: FieldRegistry;
}

/** Parse a query into its AST; throws QueryError. An empty query matches everything. */
export function parseQuery(query: string, opts: ParseOptions = {}): Query {
  return new Parser(query, lex(query), opts.now ?? new Date(), opts.fields ?? CONN_FIELDS).parse();
}

/** A value as written, with where it starts. */
interface RawValue {
  chars: string[];
  literal: boolean[];
  pos: number;
  quoted: boolean;
}

class Parser {
  private i = 0;
  /** Open groups and negations around the current token (bounded by MAX_QUERY_DEPTH). */
  private depth = 0;

  constructor(
    private readonly q: string,
    private readonly toks: Token[],
    private readonly now: Date,
    private readonly fields: FieldRegistry,
  ) {}

  private peek(): Token {
    return this.toks[this.i];
  }
  private next(): Token {
    return this.toks[this.i++];
  }
  private err(msg: string, pos: number): QueryError {
    return new QueryError(msg, pos, this.q);
  }

  /** Runs `f` one level deeper; a query nested past MAX_QUERY_DEPTH is refused before the stack is at risk. */
  private nested<T>(pos: number, f: () => T): T {
    if (++this.depth > MAX_QUERY_DEPTH) throw this.err(`the query nests deeper than ${MAX_QUERY_DEPTH} levels of parentheses and negations`, pos);
    try {
      return f();
    } finally {
      this.depth--;
    }
  }

  private describe(t: Token): string {
    return t.type === 'eof' ? 'end of query' : `'${t.raw}'`;
  }

  parse(): Query {
    if (this.peek().type === 'eof') return { kind: 'all' };
    const q = this.parseOr();
    const t = this.peek();
    if (t.type === 'rparen') throw this.err("unexpected ')' without a matching '('", t.pos);
    if (t.type !== 'eof') throw this.err(`expected 'and' or 'or' before ${this.describe(t)}`, t.pos);
    return q;
  }

  private parseOr(): Query {
    const parts = [this.parseAnd()];
    while (this.peek().type === 'or') {
      this.next();
      parts.push(this.parseAnd());
    }
    return parts.length === 1 ? parts[0] : { kind: 'or', children: parts };
  }

  private parseAnd(): Query {
    const parts = [this.parseUnary()];
    while (this.peek().type === 'and') {
      this.next();
      parts.push(this.parseUnary());
    }
    return parts.length === 1 ? parts[0] : { kind: 'and', children: parts };
  }

  private parseUnary(): Query {
    const t = this.peek();
    if (t.type === 'not') {
      this.next();
      return this.nested(t.pos, () => ({ kind: 'not', child: this.parseUnary() }));
    }
    if (t.type === 'lparen') {
      this.next();
      if (this.peek().type === 'rparen') throw this.err('empty parentheses', this.peek().pos);
      const inner = this.nested(t.pos, () => this.parseOr());
      this.expectClose(t.pos);
      return inner;
    }
    if (t.type === 'word') return this.parseClause();
    throw this.err(`expected a field name, got ${this.describe(t)}`, t.pos);
  }

  private expectClose(openPos: number): void {
    const t = this.peek();
    if (t.type === 'rparen') {
      this.next();
      return;
    }
    if (t.type === 'eof') throw this.err(`missing ')' for the '(' at position ${openPos}`, t.pos);
    throw this.err(`expected ')' or 'and'/'or', got ${this.describe(t)}`, t.pos);
  }

  private parseClause(): Query {
    const w = this.next();
    // "src:10.0.0.1" arrives as one word: the field is what precedes the first unescaped ':'.
    let split = -1;
    for (let k = 0; k < w.chars.length; k++)
      if (w.chars[k] === ':' && !w.literal[k]) {
        split = k;
        break;
      }
    const nameEnd = split >= 0 ? split : w.chars.length;
    const name = w.chars.slice(0, nameEnd).join('');
    if (name === '') throw this.err("expected a field name before ':'", w.pos);
    const fields = this.resolve(name, w.pos);

    let op: 'eq' | 'neq' | RangeOp;
    let inline: RawValue | null = null;
    if (split >= 0) {
      op = 'eq';
      if (split + 1 < w.chars.length) {
        inline = { chars: w.chars.slice(split + 1), literal: w.literal.slice(split + 1), pos: w.offs[split + 1], quoted: false };
      }
    } else {
      const t = this.next();
      if (t.type === 'colon') op = 'eq';
      else if (t.type === 'neq') op = 'neq';
      else if (t.type === 'cmp') op = ({ '>': 'gt', '>=': 'gte', '<': 'lt', '<=': 'lte' } as const)[t.raw as '>' | '>=' | '<' | '<='];
      else throw this.err(`expected ':' or a comparison (> >= < <=) after field '${name}', got ${this.describe(t)}`, t.pos);
    }

    if (op === 'eq' || op === 'neq') {
      const body = inline !== null ? this.leafGroup(fields, inline) : this.parseValues(fields);
      return op === 'neq' ? { kind: 'not', child: body } : body;
    }
    const v = inline ?? this.rawValue(`a value after the comparison on '${name}'`);
    return this.either(fields, (f) => this.rangeLeaf(f, op as RangeOp, v));
  }

  private resolve(name: string, pos: number): FieldDef[] {
    const r = this.fields.resolve(name);
    if (r === null) {
      const s = this.fields.suggest(name);
      throw this.err(`unknown field '${name}'${s ? `; did you mean '${s}'?` : ''}`, pos);
    }
    return r.kind === 'field' ? [r.def] : r.defs;
  }

  private rawValue(what: string): RawValue {
    const t = this.next();
    if (t.type === 'word' || t.type === 'string') {
      return { chars: t.chars, literal: t.literal, pos: t.pos, quoted: t.type === 'string' };
    }
    // and/or/not as a value: quoting makes them literal, say so.
    if (t.type === 'and' || t.type === 'or' || t.type === 'not')
      throw this.err(`expected ${what}, got the operator ${this.describe(t)} (quote it to search for the word)`, t.pos);
    throw this.err(`expected ${what}, got ${this.describe(t)}`, t.pos);
  }

  // values := VALUE | '(' vor ')'
  private parseValues(fields: FieldDef[]): Query {
    const t = this.peek();
    if (t.type === 'lparen') {
      this.next();
      if (this.peek().type === 'rparen') throw this.err('empty value list', this.peek().pos);
      const q = this.nested(t.pos, () => this.parseValueOr(fields));
      this.expectClose(t.pos);
      return q;
    }
    return this.leafGroup(fields, this.rawValue(`a value for '${fields.map((f) => f.name).join("' or '")}'`));
  }

  private parseValueOr(fields: FieldDef[]): Query {
    const parts = [this.parseValueAnd(fields)];
    while (this.peek().type === 'or') {
      this.next();
      parts.push(this.parseValueAnd(fields));
    }
    return parts.length === 1 ? parts[0] : { kind: 'or', children: parts };
  }

  private parseValueAnd(fields: FieldDef[]): Query {
    const parts = [this.parseValueNot(fields)];
    while (this.peek().type === 'and') {
      this.next();
      parts.push(this.parseValueNot(fields));
    }
    return parts.length === 1 ? parts[0] : { kind: 'and', children: parts };
  }

  private parseValueNot(fields: FieldDef[]): Query {
    const t = this.peek();
    if (t.type === 'not') {
      this.next();
      return this.nested(t.pos, () => ({ kind: 'not', child: this.parseValueNot(fields) }));
    }
    return this.parseValues(fields);
  }

  private either(fields: FieldDef[], leaf: (f: FieldDef) => Query): Query {
    return fields.length === 1 ? leaf(fields[0]) : { kind: 'or', children: fields.map(leaf) };
  }

  private leafGroup(fields: FieldDef[], v: RawValue): Query {
    return this.either(fields, (f) => this.eqLeaf(f, v));
  }

  private eqLeaf(field: FieldDef, v: RawValue): Query {
    const text = v.chars.join('');
    const pos = v.pos;
    if (!v.quoted && v.chars.length === 1 && v.chars[0] === '*' && !v.literal[0]) return { kind: 'exists', field, pos };
    const wild = v.chars.some((c, k) => !v.literal[k] && (c === '*' || c === '?'));
    switch (field.type) {
      case 'keyword': {
        if (text === '') throw this.err(`empty value for '${field.name}'`, pos);
        if (!wild) {
          // MACs are stored the ECS way (AA-BB-...); accept Zeek's aa:bb:... too.
          const v = field.name.endsWith('.mac') && /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i.test(text) ? text.toUpperCase().replace(/:/g, '-') : text;
          return { kind: 'term', field, value: { kind: 'string', v }, pos };
        }
        const wildcards = v.chars.filter((c, k) => !v.literal[k] && (c === '*' || c === '?')).length;
        if (wildcards > MAX_WILDCARDS) throw this.err(`'${field.name}' pattern has ${wildcards} wildcards; at most ${MAX_WILDCARDS} are allowed`, pos);
        const parts: WildPart[] = [];
        v.chars.forEach((c, k) => {
          if (!v.literal[k] && c === '*') {
            if (parts.length === 0 || parts[parts.length - 1].t !== 'star') parts.push({ t: 'star' });
          } else if (!v.literal[k] && c === '?') parts.push({ t: 'one' });
          else {
            const last = parts[parts.length - 1];
            if (last !== undefined && last.t === 'lit') last.s += c;
            else parts.push({ t: 'lit', s: c });
          }
        });
        return { kind: 'wildcard', field, parts, pos };
      }
      case 'ip': {
        if (wild) throw this.err(`wildcards are not supported on the ip field '${field.name}': use a CIDR such as 10.244.0.0/16`, pos);
        if (text.includes('/')) {
          const cidr = parseCidr(text);
          if (cidr === null) throw this.err(`'${text}' is not a CIDR (such as 10.244.0.0/16 or fd00::/8)`, pos);
          return { kind: 'cidr', field, cidr, pos };
        }
        const key = ipKey(text);
        if (key === null) throw this.err(`'${text}' is not an IP address`, pos);
        return { kind: 'term', field, value: { kind: 'ip', text, key }, pos };
      }
      case 'long':
        if (wild) throw this.err(`wildcards are not supported on the number field '${field.name}': use > >= < <=`, pos);
        return { kind: 'term', field, value: this.number(field, text, pos), pos };
      case 'boolean': {
        const b = text.toLowerCase();
        if (b !== 'true' && b !== 'false') throw this.err(`'${field.name}' is true or false, got '${text}'`, pos);
        return { kind: 'term', field, value: { kind: 'boolean', v: b === 'true' }, pos };
      }
      case 'date':
        throw this.err(`'${field.name}' is a time: compare it with > >= < <= (e.g. ${field.name} >= now-1h)`, pos);
    }
  }

  private rangeLeaf(field: FieldDef, op: RangeOp, v: RawValue): Query {
    const text = v.chars.join('');
    if (field.type === 'long') return { kind: 'range', field, op, value: this.number(field, text, v.pos), pos: v.pos };
    if (field.type === 'date') {
      const inst = parseInstant(text, this.now);
      if (inst !== null && !instantInRange(inst)) throw this.err(`'${text}' is outside the times a query can name (1970 to 9999)`, v.pos);
      if (inst === null) throw this.err(`'${text}' is not a time: use ISO 8601 (2026-01-15T10:00:00Z, 2026-01-15) or now, now-15m, now-2h, now-7d`, v.pos);
      return { kind: 'range', field, op, value: { kind: 'date', v: inst }, pos: v.pos };
    }
    throw this.err(`comparisons apply to numbers and times; '${field.name}' is ${field.type === 'ip' ? 'an' : 'a'} ${field.type} field`, v.pos);
  }

  private number(field: FieldDef, text: string, pos: number): Value {
    if (!/^-?\d+$/.test(text)) throw this.err(`'${field.name}' is a whole number, got '${text}'`, pos);
    const n = Number(text);
    if (!Number.isSafeInteger(n)) throw this.err(`${text} is out of range for '${field.name}'`, pos);
    return { kind: 'number', v: n };
  }
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Whether an instant lies in 1970..9999, the range both backends (and Date) can represent. */
export function instantInRange(i: Instant): boolean {
  return Number.isFinite(i.sec) && i.sec >= 0 && i.sec <= MAX_INSTANT_SECONDS;
}

/** ISO 8601 (date, or date and time with optional fraction and offset; UTC when none) or now[+-]N{s,m,h,d,w}. */
export function parseInstant(text: string, now: Date): Instant | null {
  const rel = /^now(?:([+-])(\d+)([smhdw]))?$/.exec(text);
  if (rel) {
    const ms = now.getTime() + (rel[1] ? (rel[1] === '-' ? -1 : 1) * Number(rel[2]) * UNIT_SECONDS[rel[3]] * 1000 : 0);
    const sec = Math.floor(ms / 1000);
    return { sec, nanos: (ms - sec * 1000) * 1e6 };
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?$/.exec(text);
  if (!m) return null;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', tz = 'Z'] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const check = new Date(ms);
  // Date.UTC rolls 2026-02-30 into March: reject instead of guessing.
  if (check.getUTCDate() !== Number(d) || check.getUTCMonth() !== Number(mo) - 1 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return null;
  let offset = 0;
  if (tz !== 'Z') offset = (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 3600 + Number(tz.slice(4, 6)) * 60);
  return { sec: ms / 1000 - offset, nanos: Number(frac.padEnd(9, '0')) };
}
