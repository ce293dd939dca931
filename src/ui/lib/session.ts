/**
 * Helpers of the session view that draw what GET /connections/:uid/session answers: the service
 * decodes the packets and reassembles the payload; the browser only shows the bytes.
 */

/** A direction's payload as the API sends it (base64) back to bytes. */
export function fromBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Payload as text: printable ASCII and line breaks kept, every other byte a middle dot. */
export function payloadText(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += c === 10 || c === 13 || c === 9 || (c >= 32 && c < 127) ? String.fromCharCode(c) : '·';
  return s;
}

/** A hex dump: offset, 16 bytes in hex, the same bytes as text. */
export function hexDump(b: Uint8Array, max = b.length): string {
  const lines: string[] = [];
  for (let o = 0; o < Math.min(b.length, max); o += 16) {
    const row = b.subarray(o, Math.min(o + 16, b.length));
    const hex = [...row].map((x) => x.toString(16).padStart(2, '0')).join(' ');
    const txt = [...row].map((x) => (x >= 32 && x < 127 ? String.fromCharCode(x) : '.')).join('');
    lines.push(`${o.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${txt}`);
  }
  return lines.join('\n');
}
