/**
 * Zeek conn.log, both writers: ASCII (TSV with `#separator`, `#set_separator`, `#empty_field`,
 * `#unset_field`, `#fields`) and JSON (`id.orig_h` etc., unset fields omitted or null).
 * Zeek's uid and community_id are kept; columns we do not model (k8s columns of our own zeek
 * writer, policy-script extras) are ignored. Unset fields get the record's defaults: counts and
 * duration 0, history '', local_orig/local_resp from the configured local networks.
 */
import type { ConnRecord, Transport } from '../record/conn';
import type { UidGenerator } from '../record/uid';
import {
  type Addr,
  type FormatParser,
  type ParserCounters,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
  PROTO_UDP,
  type RecordKit,
  addrOf,
  boolOf,
  countOf,
  fail,
  intOf,
  portOf,
  rfc3339Of,
  secondsOf,
  show,
  splitTs,
  stateOf,
} from './common';

/** A field of one row: undefined when unset or absent; '' (TSV) or [] for an empty set/string. */
type Getter = (name: string) => unknown;

const TRANSPORTS: ReadonlySet<string> = new Set(['tcp', 'udp', 'icmp', 'unknown_transport']);

function protoNumber(proto: Transport, orig: Addr): number {
  switch (proto) {
    case 'tcp':
      return PROTO_TCP;
    case 'udp':
      return PROTO_UDP;
    // Zeek's proto says icmp for both families; the address family tells which.
    case 'icmp':
      return orig.bytes.length === 16 ? PROTO_ICMPV6 : PROTO_ICMP;
    default:
      return 0;
  }
}

function stringSet(field: string, v: unknown, setSep: string): string[] {
  if (v === undefined || v === '') return [];
  if (Array.isArray(v)) {
    for (const x of v) if (typeof x !== 'string') fail(field, `${show(v)} is not a set of strings`);
    return v as string[];
  }
  if (typeof v !== 'string') fail(field, `${show(v)} is not a string`);
  return v.split(setSep);
}

function optNumber(field: string, v: unknown, conv: (f: string, v: unknown) => number, dflt: number): number {
  return v === undefined ? dflt : conv(field, v);
}

/** One Zeek row into a record; `get` hides the writer (TSV cells or JSON members). */
export function zeekRecord(get: Getter, kit: RecordKit, uids: UidGenerator, setSep: string, isoTs: boolean): ConnRecord {
  const tsRaw = get('ts');
  if (tsRaw === undefined) fail('ts', 'missing');
  const ts = isoTs && typeof tsRaw === 'string' && tsRaw.includes('T') ? rfc3339Of('ts', tsRaw) : secondsOf('ts', tsRaw);
  const orig = addrOf('id.orig_h', get('id.orig_h'));
  const resp = addrOf('id.resp_h', get('id.resp_h'));
  const origP = portOf('id.orig_p', get('id.orig_p'));
  const respP = portOf('id.resp_p', get('id.resp_p'));
  const protoRaw = get('proto');
  if (typeof protoRaw !== 'string' || !TRANSPORTS.has(protoRaw)) fail('proto', `${show(protoRaw)} is not tcp, udp, icmp or unknown_transport`);
  const proto = protoRaw as Transport;
  const ipProtoRaw = get('ip_proto');
  const ipProto = ipProtoRaw === undefined ? protoNumber(proto, orig) : countOf('ip_proto', ipProtoRaw);
  if (ipProto > 255) fail('ip_proto', `${ipProto} is not an IP protocol number`);
  if (
    proto !== 'unknown_transport' &&
    ipProtoRaw !== undefined &&
    protoNumber(proto, orig) !== ipProto &&
    !(proto === 'icmp' && (ipProto === PROTO_ICMP || ipProto === PROTO_ICMPV6))
  )
    fail('ip_proto', `${ipProto} contradicts proto ${proto}`);
  const e = { orig, resp, origP, respP, ipProto };

  const uidRaw = get('uid');
  let uid: string;
  if (uidRaw === undefined || uidRaw === '') {
    const [s, ns] = splitTs(ts);
    uid = uids.next(`zeek|${ipProto}|${orig.text}|${origP}|${resp.text}|${respP}`, s, ns);
  } else if (typeof uidRaw !== 'string' || !/^\S+$/.test(uidRaw)) fail('uid', `${show(uidRaw)} is not a uid`);
  else uid = uidRaw;

  const cidRaw = get('community_id');
  const r = kit.base(ts, uid, e);
  if (cidRaw !== undefined) {
    if (typeof cidRaw !== 'string' || !/^1:\S+$/.test(cidRaw)) fail('community_id', `${show(cidRaw)} is not a Community ID v1`);
    r.community_id = cidRaw;
  }
  r.proto = proto;
  r.service = stringSet('service', get('service'), ',');
  r.duration = optNumber('duration', get('duration'), secondsOf, 0);
  r.orig_bytes = optNumber('orig_bytes', get('orig_bytes'), countOf, 0);
  r.resp_bytes = optNumber('resp_bytes', get('resp_bytes'), countOf, 0);
  const st = get('conn_state');
  if (st !== undefined) r.conn_state = stateOf('conn_state', st);
  const lo = get('local_orig');
  if (lo !== undefined) r.local_orig = boolOf('local_orig', lo);
  const lr = get('local_resp');
  if (lr !== undefined) r.local_resp = boolOf('local_resp', lr);
  r.missed_bytes = optNumber('missed_bytes', get('missed_bytes'), countOf, 0);
  const h = get('history');
  if (h !== undefined) {
    if (typeof h !== 'string' || !/^[A-Za-z^]*$/.test(h)) fail('history', `${show(h)} is not a Zeek history`);
    r.history = h;
  }
  r.orig_pkts = optNumber('orig_pkts', get('orig_pkts'), countOf, 0);
  r.orig_ip_bytes = optNumber('orig_ip_bytes', get('orig_ip_bytes'), countOf, 0);
  r.resp_pkts = optNumber('resp_pkts', get('resp_pkts'), countOf, 0);
  r.resp_ip_bytes = optNumber('resp_ip_bytes', get('resp_ip_bytes'), countOf, 0);
  r.tunnel_parents = stringSet('tunnel_parents', get('tunnel_parents'), setSep);
  const vlan = get('vlan');
  if (vlan !== undefined) r.vlan = intOf('vlan', vlan);
  const ivlan = get('inner_vlan');
  if (ivlan !== undefined) r.inner_vlan = intOf('inner_vlan', ivlan);
  const ol2 = get('orig_l2_addr');
  if (typeof ol2 === 'string' && ol2 !== '') r.orig_l2_addr = ol2;
  const rl2 = get('resp_l2_addr');
  if (typeof rl2 === 'string' && rl2 !== '') r.resp_l2_addr = rl2;
  const interim = get('interim');
  if (interim !== undefined) r.interim = boolOf('interim', interim);
  return r;
}

/** Zeek's ASCII escapes (`\x09`) back to characters. */
function unescapeZeek(s: string): string {
  return s.indexOf('\\x') < 0 ? s : s.replace(/\\x([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

const REQUIRED = ['ts', 'id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'proto'];

/**
 * Column names as Zeek's default scope separator writes them: a log written with another
 * Log::default_scope_sep (`id_orig_h`, `id:orig_h`) has the conn id's columns under it; the
 * separator is read off the `id?orig_h` column.
 */
function withScopeSep(f: string[]): string[] {
  if (f.includes('id.orig_h')) return f;
  const m = f.map((n) => /^id(.+)orig_h$/.exec(n)).find((x) => x !== null);
  if (!m) return f;
  const prefix = `id${m[1]}`;
  return f.map((n) => (n.startsWith(prefix) ? `id.${n.slice(prefix.length)}` : n));
}

export class ZeekTsvParser implements FormatParser {
  private sep = '\t';
  private setSep = ',';
  private emptyField = '(empty)';
  private unsetField = '-';
  private fields: string[] | null = null;
  /** A required column #fields (and #types) did not give, reported on the first data line. */
  private missing: string | null = null;
  private index = new Map<string, number>();
  private cells: string[] = [];
  private readonly get: Getter = (name) => {
    const i = this.index.get(name);
    if (i === undefined) return undefined;
    const v = this.cells[i];
    if (v === this.unsetField) return undefined;
    if (v === this.emptyField) return '';
    return unescapeZeek(v);
  };

  constructor(
    private readonly kit: RecordKit,
    private readonly uids: UidGenerator,
    private readonly emit: (r: ConnRecord) => void,
    private readonly counters: ParserCounters,
  ) {}

  line(text: string): void {
    if (text.charCodeAt(0) === 0x23 /* # */) {
      this.header(text);
      return;
    }
    if (this.fields === null) fail(undefined, 'data line before the #fields header');
    if (this.missing !== null) fail('#fields', `no ${this.missing} column`);
    const cells = text.split(this.sep);
    if (cells.length !== this.fields.length) fail(undefined, `${cells.length} columns where #fields names ${this.fields.length}`);
    this.cells = cells;
    this.emit(zeekRecord(this.get, this.kit, this.uids, this.setSep, false));
  }

  end(): void {}

  private header(text: string): void {
    this.counters.ignored++;
    // `#separator` is the one directive written with a space, since the separator is not yet known.
    if (text.startsWith('#separator ')) {
      const v = unescapeZeek(text.slice('#separator '.length));
      if (v.length === 0) fail('#separator', 'empty separator');
      this.sep = v;
      return;
    }
    const cut = text.indexOf(this.sep);
    if (cut < 0) return; // `#close`, `### comments` and the like carry nothing we need
    const key = text.slice(1, cut);
    const value = text.slice(cut + this.sep.length);
    switch (key) {
      case 'set_separator':
        this.setSep = unescapeZeek(value);
        break;
      case 'empty_field':
        this.emptyField = unescapeZeek(value);
        break;
      case 'unset_field':
        this.unsetField = unescapeZeek(value);
        break;
      case 'fields': {
        const f = withScopeSep(value.split(this.sep));
        this.fields = f;
        this.index = new Map(f.map((name, i) => [name, i]));
        this.missing = REQUIRED.find((req) => !this.index.has(req)) ?? null;
        if (this.missing === 'ts' || this.missing === 'proto') fail('#fields', `no ${this.missing} column`);
        break;
      }
      case 'types': {
        // A field-name map (Log::default_field_name_map) renamed the conn id: its four columns are
        // still Zeek's first addr, port, addr, port, in that order.
        if (this.fields === null || this.missing === null) break;
        const types = value.split(this.sep);
        if (types.length !== this.fields.length) break;
        const addrs = types.flatMap((t, i) => (t === 'addr' ? [i] : []));
        const ports = types.flatMap((t, i) => (t === 'port' ? [i] : []));
        if (addrs.length < 2 || ports.length < 2) break;
        const ids: [string, number][] = [
          ['id.orig_h', addrs[0]],
          ['id.orig_p', ports[0]],
          ['id.resp_h', addrs[1]],
          ['id.resp_p', ports[1]],
        ];
        for (const [name, i] of ids) if (!this.index.has(name)) this.index.set(name, i);
        this.missing = REQUIRED.find((req) => !this.index.has(req)) ?? null;
        break;
      }
      default:
        break;
    }
  }
}

export class ZeekJsonParser implements FormatParser {
  private obj: Record<string, unknown> = {};
  private readonly get: Getter = (name) => {
    const v = this.obj[name];
    return v === null ? undefined : v;
  };

  constructor(
    private readonly kit: RecordKit,
    private readonly uids: UidGenerator,
    private readonly emit: (r: ConnRecord) => void,
  ) {}

  line(text: string): void {
    this.obj = parseObject(text);
    this.emit(zeekRecord(this.get, this.kit, this.uids, ',', true));
  }

  end(): void {}
}

export function parseObject(text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    fail(undefined, `not JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(undefined, 'not a JSON object');
  return v as Record<string, unknown>;
}
