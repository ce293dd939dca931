/**
 * The handshake of Gnutella 0.6 (`GNUTELLA CONNECT/0.6`, header lines, a blank line; the answer
 * `GNUTELLA/0.6 200 OK`), read as Zeek's Gnutella analyzer reads it: lines end at CRLF, a CR is
 * dropped, and a line or a header block above its bound (Zeek's Gnutella::max_line_length and
 * Gnutella::max_header_length) stops the analysis (history `X`). Once both sides said 200 the
 * stream turns to binary descriptors, which are not followed.
 *
 * Zeek attaches this analyzer only where a script registers it for a port
 * (Analyzer::register_for_port): it has no signature, so it is never among the default candidates
 * here either (see OPTIONAL_FACTORIES in mux.ts). Nothing is logged; like Zeek's analyzer it does
 * not confirm a service.
 */
import { type AnalyzerOptions, BaseAnalyzer } from './analyzer';

/** Gnutella's registered port (IANA gnutella-svc). */
export const GNUTELLA_PORT = 6346;

/** Bytes of a line kept to read its status. */
const HEAD = 32;

/** Zeek's GnutellaOK: the line starts with GNUTELLA and the text after its first space with 200. */
function isGnutellaOk(line: string): boolean {
  return line.startsWith('GNUTELLA') && line.slice(line.indexOf(' ') + 1).startsWith('200');
}

class Side {
  /** Length of the line being read (CRs left out), and whether its last byte was a CR. */
  line = 0;
  cr = false;
  /** Length of the header block so far (each line counted with its CRLF, as Zeek joins them). */
  headers = 0;
  /** The first bytes of the line being read: enough to tell `GNUTELLA... 200`. */
  head: number[] = [];
  /** The block's first line said 200 (Zeek's ORIG_OK / RESP_OK, in force once the block ends). */
  ok = false;
  said200 = false;
}

export class GnutellaAnalyzer extends BaseAnalyzer {
  readonly name = 'gnutella';
  private readonly maxLine: number;
  private readonly maxHeader: number;
  private readonly sides: [Side, Side] = [new Side(), new Side()];
  /** Both sides said 200 at the end of a header block: binary descriptors follow. */
  private established = false;

  constructor(opts: AnalyzerOptions) {
    super(opts);
    // Without Zeek's values given, our own buffer bound.
    this.maxLine = opts.gnutellaMaxLineLength ?? this.maxBuffer;
    this.maxHeader = opts.gnutellaMaxHeaderLength ?? this.maxBuffer;
  }

  protected onData(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    if (this.established) return;
    const s = this.sides[isOrig ? 1 : 0];
    for (let i = off; i < off + len; i++) {
      const c = buf[i];
      if (c === 0x0d) {
        s.cr = true;
        continue;
      }
      if (c === 0x0a && s.cr) {
        s.cr = false;
        this.endLine(s);
        if (this.established) return;
        continue;
      }
      if (s.line < HEAD) s.head.push(c);
      s.line++;
      if (s.line > this.maxLine) {
        this.limit('gnutella-line-too-long', `a handshake line longer than ${this.maxLine} bytes`, isOrig, ts, i - off);
        return;
      }
      if (s.headers + 2 + s.line > this.maxHeader) {
        this.limit('gnutella-header-too-long', `a handshake header block longer than ${this.maxHeader} bytes`, isOrig, ts, i - off);
        return;
      }
    }
  }

  /** A line ended: a non-empty one joins the header block, an empty one ends it. */
  private endLine(s: Side): void {
    if (s.line > 0) {
      if (s.headers === 0) s.said200 ||= isGnutellaOk(String.fromCharCode(...s.head));
      s.headers += 2 + s.line;
      s.line = 0;
      s.head = [];
      return;
    }
    s.headers = 0;
    s.ok = s.said200;
    const [r, o] = this.sides;
    this.established = r.ok && o.ok;
  }

  private limit(code: string, message: string, isOrig: boolean, ts: number, at: number): void {
    this.analysisPartial();
    this.fail(code, message, isOrig, ts, at, 'limit');
  }
}
