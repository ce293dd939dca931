/**
 * The decoded flow: one mutable struct reused for every record of every datagram (no per-record
 * allocation while decoding), and the information elements we read into it. Element ids are
 * IANA's IPFIX ids (RFC 7012), which NetFlow v9 (RFC 3954) shares for everything we read.
 */

/** Information element ids (IANA "IPFIX Information Elements"). */
export const IE = {
  octetDeltaCount: 1,
  packetDeltaCount: 2,
  protocolIdentifier: 4,
  ipClassOfService: 5,
  tcpControlBits: 6,
  sourceTransportPort: 7,
  sourceIPv4Address: 8,
  ingressInterface: 10,
  destinationTransportPort: 11,
  destinationIPv4Address: 12,
  egressInterface: 14,
  flowEndSysUpTime: 21,
  flowStartSysUpTime: 22,
  sourceIPv6Address: 27,
  destinationIPv6Address: 28,
  icmpTypeCodeIPv4: 32,
  sourceMacAddress: 56,
  vlanId: 58,
  ipVersion: 60,
  flowDirection: 61,
  destinationMacAddress: 80,
  octetTotalCount: 85,
  packetTotalCount: 86,
  flowEndReason: 136,
  icmpTypeCodeIPv6: 139,
  flowStartSeconds: 150,
  flowEndSeconds: 151,
  flowStartMilliseconds: 152,
  flowEndMilliseconds: 153,
  flowStartMicroseconds: 154,
  flowEndMicroseconds: 155,
  flowStartNanoseconds: 156,
  flowEndNanoseconds: 157,
  systemInitTimeMilliseconds: 160,
  icmpTypeIPv4: 176,
  icmpCodeIPv4: 177,
  icmpTypeIPv6: 178,
  icmpCodeIPv6: 179,
  initiatorOctets: 231,
  responderOctets: 232,
  dot1qVlanId: 243,
} as const;

/** RFC 5103 reverse elements (enterprise 29305) are stored in templates as REVERSE | id. */
export const REVERSE = 0x10000;
export const REVERSE_PEN = 29305;

/**
 * IXIA (enterprise 3054) exports its biflows' reverse counters as its own elements 176
 * (reverse octet delta count) and 177 (reverse packet delta count), as tshark decodes them;
 * templates store them as these ids, outside the IANA and REVERSE ranges.
 */
export const IXIA_PEN = 3054;
export const IXIA_REVERSE_OCTETS = 0x20000 | 176;
export const IXIA_REVERSE_PACKETS = 0x20000 | 177;

/** The template id of an enterprise-specific element we read, or -1 to skip it. */
export function enterpriseIe(pen: number, id: number): number {
  if (pen === REVERSE_PEN) return REVERSE | id;
  if (pen === IXIA_PEN && (id === 176 || id === 177)) return 0x20000 | id;
  return -1;
}

/** Unsigned big-endian integer of 1..8 bytes (exact up to 2^53; counters beyond that are not real). */
export function readUint(b: Uint8Array, off: number, len: number): number {
  let v = 0;
  for (let i = 0; i < len; i++) v = v * 256 + b[off + i];
  return v;
}

export function u16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

export function u32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) >>> 0) + ((b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]);
}

// Seconds between the NTP era 0 epoch (1900) and the Unix epoch: IPFIX micro/nanosecond times are NTP timestamps.
const NTP_UNIX_OFFSET = 2208988800;

/** NTP 64-bit timestamp (RFC 7011 section 6.1.9) to Unix milliseconds. */
function ntpToMs(b: Uint8Array, off: number): number {
  return (u32(b, off) - NTP_UNIX_OFFSET) * 1000 + (u32(b, off + 4) / 4294967296) * 1000;
}

/**
 * One flow record as decoded. Reused: a consumer keeps what it needs (the converter builds a
 * ConnRecord) before the decoder moves on. Absent values are -1 (NaN for times).
 */
export interface FlowFields {
  version: number;
  exporter: string;
  /** v5: engine_type << 8 | engine_id; v9: source id; IPFIX: observation domain id. */
  domain: number;
  /** 0 for v5. */
  templateId: number;
  /** 4 or 6, 0 when the record carries no address. */
  ipVersion: number;
  /** Address bytes (4 used for IPv4, 16 for IPv6): copied here, so the datagram is not retained. */
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  srcPort: number;
  dstPort: number;
  proto: number;
  tcpFlags: number;
  packets: number;
  bytes: number;
  /** Unix milliseconds (NaN until resolved). */
  startMs: number;
  endMs: number;
  /** Raw sysUptime-relative times (ms), resolved against the header or systemInitTime. */
  startUptime: number;
  endUptime: number;
  icmpType: number;
  icmpCode: number;
  inIf: number;
  outIf: number;
  vlan: number;
  /** 0 ingress, 1 egress (IE 61). */
  direction: number;
  /** IE 136: 1 idle timeout, 2 active timeout, 3 end of flow, 4 forced end, 5 lack of resources. */
  endReason: number;
  tos: number;
  /** MACs as 48-bit numbers, -1 when absent. */
  srcMac: number;
  dstMac: number;
  /** Reverse direction of an IPFIX biflow (RFC 5103, enterprise 29305); -1 when not a biflow. */
  revPackets: number;
  revBytes: number;
  revTcpFlags: number;
}

export function newFlowFields(): FlowFields {
  const f: FlowFields = {
    version: 0,
    exporter: '',
    domain: 0,
    templateId: 0,
    ipVersion: 0,
    src: new Uint8Array(16),
    dst: new Uint8Array(16),
    srcPort: 0,
    dstPort: 0,
    proto: 0,
    tcpFlags: 0,
    packets: 0,
    bytes: 0,
    startMs: NaN,
    endMs: NaN,
    startUptime: -1,
    endUptime: -1,
    icmpType: -1,
    icmpCode: -1,
    inIf: -1,
    outIf: -1,
    vlan: -1,
    direction: -1,
    endReason: -1,
    tos: -1,
    srcMac: -1,
    dstMac: -1,
    revPackets: -1,
    revBytes: -1,
    revTcpFlags: -1,
  };
  return f;
}

export function resetFlowFields(f: FlowFields): void {
  f.ipVersion = 0;
  f.srcPort = 0;
  f.dstPort = 0;
  f.proto = 0;
  f.tcpFlags = 0;
  f.packets = 0;
  f.bytes = 0;
  f.startMs = NaN;
  f.endMs = NaN;
  f.startUptime = -1;
  f.endUptime = -1;
  f.icmpType = -1;
  f.icmpCode = -1;
  f.inIf = -1;
  f.outIf = -1;
  f.vlan = -1;
  f.direction = -1;
  f.endReason = -1;
  f.tos = -1;
  f.srcMac = -1;
  f.dstMac = -1;
  f.revPackets = -1;
  f.revBytes = -1;
  f.revTcpFlags = -1;
}

function isZero(b: Uint8Array, off: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (b[off + i] !== 0) return false;
  return true;
}

function copyAddr(dst: Uint8Array, b: Uint8Array, off: number, len: number): void {
  for (let i = 0; i < len; i++) dst[i] = b[off + i];
}

/**
 * Read one field value (`len` bytes at `off`, already bounds-checked by the caller) into `f`.
 * Elements we do not use, and lengths that do not fit the element's type, are ignored: an
 * exporter's odd choice costs that field, not the record.
 */
export function applyField(f: FlowFields, ie: number, b: Uint8Array, off: number, len: number): void {
  switch (ie) {
    case IE.octetDeltaCount:
      if (len <= 8) f.bytes = readUint(b, off, len);
      break;
    case IE.octetTotalCount:
      // Only a fallback: a delta count, when present, describes this record's packets.
      if (len <= 8 && f.bytes === 0) f.bytes = readUint(b, off, len);
      break;
    case IE.packetDeltaCount:
      if (len <= 8) f.packets = readUint(b, off, len);
      break;
    case IE.packetTotalCount:
      if (len <= 8 && f.packets === 0) f.packets = readUint(b, off, len);
      break;
    case IE.protocolIdentifier:
      if (len === 1) f.proto = b[off];
      break;
    case IE.ipClassOfService:
      if (len === 1) f.tos = b[off];
      break;
    case IE.tcpControlBits:
      // 1 byte in NetFlow v9 and old IPFIX exporters, 2 in RFC 7125; the classic flags are the low byte.
      if (len === 1 || len === 2) f.tcpFlags = b[off + len - 1];
      break;
    case IE.sourceTransportPort:
      if (len === 2) f.srcPort = u16(b, off);
      break;
    case IE.destinationTransportPort:
      if (len === 2) f.dstPort = u16(b, off);
      break;
    // Templates may carry both families (Procera): the family not in use is written as zeros,
    // and an all-zero address of one family never overrides an address of the other.
    case IE.sourceIPv4Address:
      if (len === 4 && !(f.ipVersion === 6 && isZero(b, off, 4))) {
        copyAddr(f.src, b, off, 4);
        f.ipVersion = 4;
      }
      break;
    case IE.destinationIPv4Address:
      if (len === 4 && !(f.ipVersion === 6 && isZero(b, off, 4))) {
        copyAddr(f.dst, b, off, 4);
        f.ipVersion = 4;
      }
      break;
    case IE.sourceIPv6Address:
      if (len === 16 && !(f.ipVersion === 4 && isZero(b, off, 16))) {
        copyAddr(f.src, b, off, 16);
        f.ipVersion = 6;
      }
      break;
    case IE.destinationIPv6Address:
      if (len === 16 && !(f.ipVersion === 4 && isZero(b, off, 16))) {
        copyAddr(f.dst, b, off, 16);
        f.ipVersion = 6;
      }
      break;
    case IE.ingressInterface:
      if (len <= 4) f.inIf = readUint(b, off, len);
      break;
    case IE.egressInterface:
      if (len <= 4) f.outIf = readUint(b, off, len);
      break;
    case IE.flowStartSysUpTime:
      if (len === 4) f.startUptime = u32(b, off);
      break;
    case IE.flowEndSysUpTime:
      if (len === 4) f.endUptime = u32(b, off);
      break;
    case IE.icmpTypeCodeIPv4:
    case IE.icmpTypeCodeIPv6:
      if (len === 2) {
        f.icmpType = b[off];
        f.icmpCode = b[off + 1];
      }
      break;
    case IE.icmpTypeIPv4:
    case IE.icmpTypeIPv6:
      if (len === 1) f.icmpType = b[off];
      break;
    case IE.icmpCodeIPv4:
    case IE.icmpCodeIPv6:
      if (len === 1) f.icmpCode = b[off];
      break;
    case IE.vlanId:
    case IE.dot1qVlanId:
      if (len === 2 && f.vlan < 0) f.vlan = u16(b, off) & 0x0fff;
      break;
    case IE.flowDirection:
      if (len === 1) f.direction = b[off];
      break;
    case IE.flowEndReason:
      if (len === 1) f.endReason = b[off];
      break;
    case IE.sourceMacAddress:
      if (len === 6) f.srcMac = readUint(b, off, 6);
      break;
    case IE.destinationMacAddress:
      if (len === 6) f.dstMac = readUint(b, off, 6);
      break;
    case IE.flowStartSeconds:
      if (len === 4) f.startMs = u32(b, off) * 1000;
      break;
    case IE.flowEndSeconds:
      if (len === 4) f.endMs = u32(b, off) * 1000;
      break;
    case IE.flowStartMilliseconds:
      if (len === 8) f.startMs = readUint(b, off, 8);
      break;
    case IE.flowEndMilliseconds:
      if (len === 8) f.endMs = readUint(b, off, 8);
      break;
    case IE.flowStartMicroseconds:
    case IE.flowStartNanoseconds:
      if (len === 8) f.startMs = ntpToMs(b, off);
      break;
    case IE.flowEndMicroseconds:
    case IE.flowEndNanoseconds:
      if (len === 8) f.endMs = ntpToMs(b, off);
      break;
    case REVERSE | IE.octetDeltaCount:
    case IXIA_REVERSE_OCTETS:
      if (len <= 8) f.revBytes = readUint(b, off, len);
      break;
    case REVERSE | IE.packetDeltaCount:
    case IXIA_REVERSE_PACKETS:
      if (len <= 8) f.revPackets = readUint(b, off, len);
      break;
    // YAF and other RFC 5103 exporters send total counts; a delta count, when present, wins.
    case REVERSE | IE.octetTotalCount:
      if (len <= 8 && f.revBytes <= 0) f.revBytes = readUint(b, off, len);
      break;
    case REVERSE | IE.packetTotalCount:
      if (len <= 8 && f.revPackets <= 0) f.revPackets = readUint(b, off, len);
      break;
    // Cisco ASA's NSEL (NetFlow v9 elements 231/232, IPFIX's initiatorOctets/responderOctets):
    // one record per connection, the source its initiator, with both directions' byte counts
    // and no packet counts; the responder's count makes the record a biflow.
    case IE.initiatorOctets:
      if (len <= 8 && f.bytes === 0) f.bytes = readUint(b, off, len);
      break;
    case IE.responderOctets:
      if (len <= 8) f.revBytes = readUint(b, off, len);
      break;
    case REVERSE | IE.tcpControlBits:
      if (len === 1 || len === 2) f.revTcpFlags = b[off + len - 1];
      break;
    default:
      break;
  }
}
