/**
 * UDP protocols Zeek attaches by port and names in conn.log's `service` without our logging
 * their messages: NTP (123) and DHCP (67, 68). Each checks the fixed part of the first datagram
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
