/**
 * The ndjson connection line encoded straight into the sink's buffer: the bytes of
 * `ndjsonLine(r)` as the sink would encode that string, without building it. Building the
 * line (some sixty pieces), flattening it and encoding it to UTF-8 took 15-18% of the CPU of
 * a connection-only analysis (--cpu-prof on the bench's short-session capture), more than
 * many of the parsing steps.
 *
 * Like ndjsonLine, the string fields are written as they are between quotes (they hold
 * characters JSON never escapes; whatever they hold, the bytes stay ndjsonLine's), and numbers
 * as `${n}`. A value of another type than the record's makes the caller write ndjsonLine.
 */
import type { ConnRecord } from '../../parsers/record/conn';
import { AsciiRun, BOUND_SCALAR, JsonBytes, RUN_SLACK } from './json-bytes';
import type { TextSink } from './sink';

const ENC = new JsonBytes();

/** Every run made, for the bound. */
const RUNS: AsciiRun[] = [];
const run = (s: string): AsciiRun => {
  const r = new AsciiRun(s);
  RUNS.push(r);
  return r;
};

// ndjsonLine's constant runs: a key with the punctuation around it, quotes of the string values
// included; and longer runs taking in the values nearly every record has (an empty array, both
// vlans null, no tunnel), which save the writes of a run each.
const START = run('{"ts":');
const UID = run(',"uid":"');
const ORIG_H = run('","orig_h":"');
const ORIG_P = run('","orig_p":');
const RESP_H = run(',"resp_h":"');
const RESP_P = run('","resp_p":');
const PROTO = run(',"proto":"');
const IP_PROTO = run('","ip_proto":');
const SERVICE = run(',"service":');
const NO_SERVICE = run(',"service":[],"duration":');
const DURATION = run(',"duration":');
const ORIG_BYTES = run(',"orig_bytes":');
const RESP_BYTES = run(',"resp_bytes":');
const CONN_STATE = run(',"conn_state":"');
/** `","local_orig":X,"local_resp":Y,"missed_bytes":` by local_orig * 2 + local_resp. */
const LOCALS = [
  run('","local_orig":false,"local_resp":false,"missed_bytes":'),
  run('","local_orig":false,"local_resp":true,"missed_bytes":'),
  run('","local_orig":true,"local_resp":false,"missed_bytes":'),
  run('","local_orig":true,"local_resp":true,"missed_bytes":'),
];
const HISTORY = run(',"history":"');
const ORIG_PKTS = run('","orig_pkts":');
const ORIG_IP_BYTES = run(',"orig_ip_bytes":');
const RESP_PKTS = run(',"resp_pkts":');
const RESP_IP_BYTES = run(',"resp_ip_bytes":');
const TUNNEL_PARENTS = run(',"tunnel_parents":');
const NO_TUNNEL_PARENTS = run(',"tunnel_parents":[],"community_id":"');
const COMMUNITY_ID = run(',"community_id":"');
const VLAN = run('","vlan":');
const NO_VLANS = run('","vlan":null,"inner_vlan":null,"orig_l2_addr":');
const INNER_VLAN = run(',"inner_vlan":');
const ORIG_L2_ADDR = run(',"orig_l2_addr":');
const RESP_L2_ADDR = run(',"resp_l2_addr":');
const TUNNEL_TYPE = run(',"tunnel_type":');
const NO_TUNNEL_END = run(',"tunnel_type":null,"tunnel_id":null,"interim":false}\n');
const TUNNEL_ID = run(',"tunnel_id":');
const INTERIM = run(',"interim":');
const SOURCE = run(',"source":"');
const OBSERVED = run(',"observed":"');
const STITCHED = run(',"stitched":');
const COUNTS = run(',"counts":"');
const K8S = run(',"k8s":');
const QUOTE = run('"');
const NULL = run('null');
const TRUE = run('true');
const FALSE = run('false');
const EMPTY = run('[]');
const END = run('}\n');

/**
 * A line's bytes beyond its strings: every run (more than are written), 15 numbers and 5
 * booleans of BOUND_SCALAR, the quotes of the three nullable strings and the optional ones, and
 * the room the last run writes past the line.
 */
const FIXED_BOUND = RUNS.reduce((n, r) => n + r.length, 0) + 20 * BOUND_SCALAR + 16 + RUN_SLACK;

/** UTF-8 bytes of a string written as it is: 3 per UTF-16 unit at most. */
function rawBound(s: unknown): number {
  return typeof s === 'string' ? 3 * s.length : 0;
}

/** Bytes of a string array as JSON: 6 per unit (`\u001f`, a lone surrogate), quotes and commas; 0 for anything else (it is refused when written). */
function arrayBound(a: readonly unknown[]): number {
  let n = 2;
  for (let i = 0; i < a.length; i++) {
    const s = a[i];
    if (typeof s === 'string') n += 6 * s.length + 3;
  }
  return n;
}

/** `"s"`, or null. */
function rawOrNull(e: JsonBytes, s: string | null): void {
  if (s === null) e.text(NULL);
  else if (typeof s === 'string') {
    e.text(QUOTE);
    e.raw(s);
    e.text(QUOTE);
  } else e.bad = true;
}

function numOrNull(e: JsonBytes, n: number | null): void {
  if (n === null) e.text(NULL);
  else e.numText(n);
}

function bool(e: JsonBytes, v: boolean): void {
  if (v === true) e.text(TRUE);
  else if (v === false) e.text(FALSE);
  else e.bad = true;
}

/** JSON.stringify of an array of strings (jsonArray); another element type is refused. */
function strings(e: JsonBytes, a: readonly string[]): void {
  const n = a.length;
  if (n === 0) {
    e.text(EMPTY);
    return;
  }
  e.buf[e.pos++] = 0x5b;
  for (let i = 0; i < n; i++) {
    if (i > 0) e.buf[e.pos++] = 0x2c;
    const s = a[i];
    if (typeof s === 'string') e.str(s);
    else e.bad = true;
  }
  e.buf[e.pos++] = 0x5d;
}

/**
 * Writes `ndjsonLine(r)` into the sink as UTF-8, the bytes `sink.write(ndjsonLine(r))` would
 * write; false (nothing written) when a value has another type than the record's or the line
 * could exceed a buffer: the caller writes ndjsonLine then.
 */
export function writeConnBytes(sink: TextSink, r: ConnRecord): boolean {
  const service = r.service;
  const parents = r.tunnel_parents;
  if (!Array.isArray(service) || !Array.isArray(parents)) return false;
  let k8s: string | undefined;
  if (r.k8s !== undefined) {
    // Its labels are anyone's text: JSON.stringify escapes them as ndjsonLine has it do.
    k8s = JSON.stringify(r.k8s) as string | undefined;
    if (typeof k8s !== 'string') return false;
  }
  const bound =
    FIXED_BOUND +
    rawBound(r.uid) +
    rawBound(r.orig_h) +
    rawBound(r.resp_h) +
    rawBound(r.proto) +
    rawBound(r.conn_state) +
    rawBound(r.history) +
    rawBound(r.community_id) +
    rawBound(r.orig_l2_addr) +
    rawBound(r.resp_l2_addr) +
    rawBound(r.tunnel_type) +
    rawBound(r.source) +
    rawBound(r.observed) +
    rawBound(r.counts) +
    rawBound(k8s) +
    arrayBound(service) +
    arrayBound(parents);
  if (!sink.reserve(bound)) return false;
  const e = ENC;
  e.begin(sink.buf, sink.pos);
  e.text(START);
  e.numText(r.ts);
  e.text(UID);
  e.raw(r.uid);
  e.text(ORIG_H);
  e.raw(r.orig_h);
  e.text(ORIG_P);
  e.numText(r.orig_p);
  e.text(RESP_H);
  e.raw(r.resp_h);
  e.text(RESP_P);
  e.numText(r.resp_p);
  e.text(PROTO);
  e.raw(r.proto);
  e.text(IP_PROTO);
  e.numText(r.ip_proto);
  if (service.length === 0) e.text(NO_SERVICE);
  else {
    e.text(SERVICE);
    strings(e, service);
    e.text(DURATION);
  }
  e.numText(r.duration);
  e.text(ORIG_BYTES);
  e.numText(r.orig_bytes);
  e.text(RESP_BYTES);
  e.numText(r.resp_bytes);
  e.text(CONN_STATE);
  e.raw(r.conn_state);
  const lo = r.local_orig;
  const lr = r.local_resp;
  if (typeof lo === 'boolean' && typeof lr === 'boolean') e.text(LOCALS[(lo ? 2 : 0) + (lr ? 1 : 0)]);
  else e.bad = true;
  e.numText(r.missed_bytes);
  e.text(HISTORY);
  e.raw(r.history);
  e.text(ORIG_PKTS);
  e.numText(r.orig_pkts);
  e.text(ORIG_IP_BYTES);
  e.numText(r.orig_ip_bytes);
  e.text(RESP_PKTS);
  e.numText(r.resp_pkts);
  e.text(RESP_IP_BYTES);
  e.numText(r.resp_ip_bytes);
  if (parents.length === 0) e.text(NO_TUNNEL_PARENTS);
  else {
    e.text(TUNNEL_PARENTS);
    strings(e, parents);
    e.text(COMMUNITY_ID);
  }
  e.raw(r.community_id);
  if (r.vlan === null && r.inner_vlan === null) e.text(NO_VLANS);
  else {
    e.text(VLAN);
    numOrNull(e, r.vlan);
    e.text(INNER_VLAN);
    numOrNull(e, r.inner_vlan);
    e.text(ORIG_L2_ADDR);
  }
  rawOrNull(e, r.orig_l2_addr);
  e.text(RESP_L2_ADDR);
  rawOrNull(e, r.resp_l2_addr);
  if (
    r.tunnel_type === null &&
    r.tunnel_id === null &&
    r.interim === false &&
    r.source === undefined &&
    r.observed === undefined &&
    r.stitched === undefined &&
    r.counts === undefined &&
    k8s === undefined
  )
    e.text(NO_TUNNEL_END);
  else {
    e.text(TUNNEL_TYPE);
    rawOrNull(e, r.tunnel_type);
    e.text(TUNNEL_ID);
    numOrNull(e, r.tunnel_id);
    e.text(INTERIM);
    bool(e, r.interim);
    if (r.source !== undefined) {
      e.text(SOURCE);
      e.raw(r.source);
      e.text(QUOTE);
    }
    if (r.observed !== undefined) {
      e.text(OBSERVED);
      e.raw(r.observed);
      e.text(QUOTE);
    }
    if (r.stitched !== undefined) {
      e.text(STITCHED);
      bool(e, r.stitched);
    }
    if (r.counts !== undefined) {
      e.text(COUNTS);
      e.raw(r.counts);
      e.text(QUOTE);
    }
    if (k8s !== undefined) {
      e.text(K8S);
      e.raw(k8s);
    }
    e.text(END);
  }
  // Past the buffer's end the bytes were lost: only a wrong bound would get there.
  if (e.bad || e.pos > e.buf.length) return false;
  sink.pos = e.pos;
  return true;
}
