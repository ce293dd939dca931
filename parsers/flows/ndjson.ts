/**
 * Our own ConnRecord NDJSON (`eastwatch analyze --format ndjson`). Records are checked field by
 * field (types and ranges) and re-emitted as they are; members a producer left out get the
 * record's defaults, and community_id / local flags are computed when absent.
 */
import type { ConnK8s } from '../record/k8s';
import { type ConnRecord, RECORD_SOURCES } from '../record/conn';
import { type FormatParser, type RecordKit, addrOf, boolOf, countOf, fail, intOf, portOf, secondsOf, show, stateOf } from './common';
import { parseObject } from './zeek';

const TRANSPORT_NUMBERS: Readonly<Record<string, number | undefined>> = { tcp: 6, udp: 17, icmp: 1, unknown_transport: 0 };

function strings(field: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail(field, `${show(v)} is not an array of strings`);
  return v as string[];
}

function nullableInt(field: string, v: unknown): number | null {
  return v === undefined || v === null ? null : intOf(field, v);
}

function nullableString(field: string, v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') fail(field, `${show(v)} is not a string`);
  return v;
}

function k8sOf(v: unknown): ConnK8s {
  const o = v as Record<string, unknown> | null;
  const isEnd = (e: unknown): boolean => typeof e === 'object' && e !== null && typeof (e as { kind?: unknown }).kind === 'string';
  if (typeof o !== 'object' || o === null || !isEnd(o.orig) || !isEnd(o.resp) || typeof o.direction !== 'string' || typeof o.scope !== 'string')
    fail('k8s', 'not a Kubernetes identity (orig, resp, direction, scope)');
  return o as unknown as ConnK8s;
}

export class ConnNdjsonParser implements FormatParser {
  constructor(
    private readonly kit: RecordKit,
    private readonly emit: (r: ConnRecord) => void,
  ) {}

  line(text: string): void {
    const o = parseObject(text);
    const orig = addrOf('orig_h', o.orig_h);
    const resp = addrOf('resp_h', o.resp_h);
    const proto = o.proto;
    if (typeof proto !== 'string' || TRANSPORT_NUMBERS[proto] === undefined) fail('proto', `${show(proto)} is not tcp, udp, icmp or unknown_transport`);
    const ipProto =
      o.ip_proto === undefined ? (proto === 'icmp' && orig.bytes.length === 16 ? 58 : TRANSPORT_NUMBERS[proto]!) : countOf('ip_proto', o.ip_proto);
    if (ipProto > 255) fail('ip_proto', `${ipProto} is not an IP protocol number`);
    if (typeof o.uid !== 'string' || o.uid === '') fail('uid', `${show(o.uid)} is not a uid`);
    const e = { orig, resp, origP: portOf('orig_p', o.orig_p), respP: portOf('resp_p', o.resp_p), ipProto };
    const r = this.kit.base(secondsOf('ts', o.ts), o.uid, e);
    r.proto = proto as ConnRecord['proto'];
    r.service = strings('service', o.service);
    if (o.duration !== undefined) r.duration = secondsOf('duration', o.duration);
    if (o.orig_bytes !== undefined) r.orig_bytes = countOf('orig_bytes', o.orig_bytes);
    if (o.resp_bytes !== undefined) r.resp_bytes = countOf('resp_bytes', o.resp_bytes);
    r.conn_state = stateOf('conn_state', o.conn_state);
    if (o.local_orig !== undefined) r.local_orig = boolOf('local_orig', o.local_orig);
    if (o.local_resp !== undefined) r.local_resp = boolOf('local_resp', o.local_resp);
    if (o.missed_bytes !== undefined) r.missed_bytes = countOf('missed_bytes', o.missed_bytes);
    if (o.history !== undefined) {
      if (typeof o.history !== 'string' || !/^[A-Za-z^]*$/.test(o.history)) fail('history', `${show(o.history)} is not a Zeek history`);
      r.history = o.history;
    }
    if (o.orig_pkts !== undefined) r.orig_pkts = countOf('orig_pkts', o.orig_pkts);
    if (o.orig_ip_bytes !== undefined) r.orig_ip_bytes = countOf('orig_ip_bytes', o.orig_ip_bytes);
    if (o.resp_pkts !== undefined) r.resp_pkts = countOf('resp_pkts', o.resp_pkts);
    if (o.resp_ip_bytes !== undefined) r.resp_ip_bytes = countOf('resp_ip_bytes', o.resp_ip_bytes);
    r.tunnel_parents = strings('tunnel_parents', o.tunnel_parents);
    if (o.community_id !== undefined) {
      if (typeof o.community_id !== 'string' || !/^1:\S+$/.test(o.community_id)) fail('community_id', `${show(o.community_id)} is not a Community ID v1`);
      r.community_id = o.community_id;
    }
    r.vlan = nullableInt('vlan', o.vlan);
    r.inner_vlan = nullableInt('inner_vlan', o.inner_vlan);
    r.orig_l2_addr = nullableString('orig_l2_addr', o.orig_l2_addr);
    r.resp_l2_addr = nullableString('resp_l2_addr', o.resp_l2_addr);
    r.tunnel_type = nullableString('tunnel_type', o.tunnel_type);
    r.tunnel_id = nullableInt('tunnel_id', o.tunnel_id);
    if (o.interim !== undefined) r.interim = boolOf('interim', o.interim);
    if (o.observed !== undefined && o.observed !== null) {
      if (o.observed !== 'one-way' && o.observed !== 'midstream') fail('observed', `${show(o.observed)} is not one-way or midstream`);
      r.observed = o.observed;
    }
    if (o.stitched !== undefined && o.stitched !== null && boolOf('stitched', o.stitched)) r.stitched = true;
    if (o.source !== undefined && o.source !== null) {
      if (typeof o.source !== 'string' || !(RECORD_SOURCES as readonly string[]).includes(o.source))
        fail('source', `${show(o.source)} is not one of ${RECORD_SOURCES.join(', ')}`);
      // Packet-capture records (an agent shipping its live records, `analyze` output posted back)
      // keep what they are: they get the same verdict treatment as ndjson. A flow source's record
      // re-posted as NDJSON was given this path's verdict, so it says ndjson, as k8s/reresolve.ts reads it.
      if (o.source === 'capture' || o.source === 'agent') r.source = o.source;
    }
    if (o.counts !== undefined && o.counts !== null) {
      if (o.counts !== 'reports') fail('counts', `${show(o.counts)} is not reports`);
      r.counts = o.counts;
    }
    if (o.k8s !== undefined && o.k8s !== null) r.k8s = k8sOf(o.k8s);
    this.emit(r);
  }

  end(): void {}
}
