/**
 * UDP protocols Zeek attaches by port and names in conn.log's `service` without our logging
 * their messages: NTP (123), DHCP (67, 68) and RDP's UDP transport (3389). Each checks the fixed part of the first datagram
 * and confirms on a well-formed one, as Zeek's analyzers confirm once a message parses; they emit
 * no records.
 */
import { BaseAnalyzer } from './analyzer';

export const NTP_PORT = 123;
export const DHCP_PORTS: readonly number[] = [67, 68];

/**
 * NTP (RFC 5905; control mode 6, RFC 1305; private mode 7): version 1 to 4 in the first byte, and
 * the length the mode needs (the 48-byte header for modes 1 to 5, the 12-byte control header).
 */
export function isNtp(b: Buffer, o: number, n: number): boolean {
  if (n < 1) return false;
  const version = (b[o] >> 3) & 7;
  const mode = b[o] & 7;
  if (version < 1 || version > 4 || mode === 0) return false;
  if (mode === 6) return n >= 12;
  if (mode === 7) return n >= 8;
  return n >= 48;
}

/** DHCP magic cookie (RFC 2131 §3), after the 236-byte BOOTP header. */
const DHCP_COOKIE = 0x63825363;

/** A BOOTP request or reply (op 1 or 2) with hardware length at most 16 and DHCP's magic cookie. */
export function isDhcp(b: Buffer, o: number, n: number): boolean {
  if (n < 240) return false;
  const op = b[o];
  return (op === 1 || op === 2) && b[o + 2] <= 16 && b.readUInt32BE(o + 236) === DHCP_COOKIE;
}

abstract class DatagramCheck extends BaseAnalyzer {
  protected abstract check(b: Buffer, o: number, n: number): boolean;

  protected onData(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    if (this.check(buf, off, len)) this.confirm();
    else this.violation('malformed', `not a well-formed ${this.name} message (${len} bytes)`, isOrig, ts);
  }
}

export class NtpAnalyzer extends DatagramCheck {
  readonly name = 'ntp';
  protected check(b: Buffer, o: number, n: number): boolean {
    return isNtp(b, o, n);
  }
}

export class DhcpAnalyzer extends DatagramCheck {
  readonly name = 'dhcp';
  protected check(b: Buffer, o: number, n: number): boolean {
    return isDhcp(b, o, n);
  }
}

/** RDP over UDP (MS-RDPEUDP): base/protocols/rdp attaches Zeek's RDPEUDP analyzer to 3389/udp. */
export const RDPEUDP_PORT = 3389;

const RDPUDP_FLAG_SYN = 0x0001;
const RDPUDP_FLAG_ACK = 0x0004;
/** RDPUDP_FEC_HEADER (MS-RDPEUDP 2.2.2.1): snSourceAck (4), uReceiveWindowSize (2), uFlags (2). */
const FEC_HEADER = 8;

/**
 * MS-RDPEUDP's handshake as Zeek's RDPEUDP analyzer follows it: the originator's SYN datagram
 * (uFlags with SYN, snSourceAck 0xffffffff), then the responder's SYN+ACK (uFlags with SYN or
 * ACK), which confirms. Datagrams that do not fit the step are passed over, as Zeek passes them,
 * so a SYN never answered leaves the service unset (rdpeudp-handshake-fail.pcap); one too short
 * for the FEC header is no RDPEUDP.
 */
export class RdpeudpAnalyzer extends BaseAnalyzer {
  readonly name = 'rdpeudp';
  private sawSyn = false;

  protected onData(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    if (this.state !== 'probing') return;
    if (len < FEC_HEADER) {
      this.reject('rdpeudp-short', `datagram of ${len} bytes, the RDPUDP FEC header needs ${FEC_HEADER}`, isOrig, ts);
      return;
    }
    const flags = buf.readUInt16BE(off + 6);
    if (!this.sawSyn) {
      this.sawSyn = isOrig && (flags & RDPUDP_FLAG_SYN) !== 0 && buf.readUInt32BE(off) === 0xffffffff;
    } else if (!isOrig && (flags & (RDPUDP_FLAG_SYN | RDPUDP_FLAG_ACK)) !== 0) {
      this.confirm();
    }
  }
}
