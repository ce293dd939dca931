/**
 * Which connection a decoded layer belongs to, without its direction: the key the pcap cut and
 * the session view match packets to a connection record with (protocol and both ends, as the
 * tracker keys them).
 */
import type { FlowLayer } from '../decode/layers';
import { formatAddress } from '../record/address';
import { icmpCounterpart } from '../record/community-id';

/** Direction-free key of a flow: protocol and both ends, lower end first. */
export function flowKey(proto: number, a: string, pa: number, b: string, pb: number): string {
  const x = `${a}|${pa}`;
  const y = `${b}|${pb}`;
  return x < y ? `${proto}|${x}|${y}` : `${proto}|${y}|${x}`;
}

/** The flowKey of a record's connection (its id fields and ip_proto). */
export function recordKey(r: { ip_proto: number; orig_h: string; orig_p: number; resp_h: string; resp_p: number }): string {
  return flowKey(r.ip_proto, r.orig_h, r.orig_p, r.resp_h, r.resp_p);
}

/** The flowKey of the connection a decoded layer is a packet of. */
export function layerKey(l: FlowLayer): string {
  // SCTP records carry ports 0/0 (Zeek's unknown_transport), so its packets match on the addresses.
  const sctp = l.proto === 132;
  let sp = sctp ? 0 : l.sport;
  let dp = sctp ? 0 : l.dport;
  if ((l.proto === 1 && l.ipVersion === 4) || (l.proto === 58 && l.ipVersion === 6)) {
    // As the tracker keys ICMP: the type, and its counterpart type (echo request 8 <-> reply 0) or
    // else the code. Keyed on the ports the decoder leaves at 0, an echo's replies were never cut.
    const cp = icmpCounterpart(l.proto, l.icmpType);
    sp = l.icmpType;
    dp = cp >= 0 ? cp : l.icmpCode;
  }
  return flowKey(l.proto, formatAddress(l.buf, l.srcOff, l.addrLen), sp, formatAddress(l.buf, l.dstOff, l.addrLen), dp);
}
