import { type DecodedPacket, DecodeStatus } from './layers';

/**
 * Marks `out` MALFORMED. Only ever called on the malformed path, so building the message
 * string here costs nothing on well-formed traffic. Returns false so callers can
 * `return fail(...)`.
 */
export function fail(out: DecodedPacket, code: string, message: string, offset: number): false {
  out.status = DecodeStatus.MALFORMED;
  out.errorCode = code;
  out.errorMessage = message;
  out.errorOffset = offset;
  return false;
}
