/**
 * The MIME entity structure of an HTTP body (RFC 2045, 2046), followed only as far as Zeek's
 * MIME analyzer needs it to bound its nesting: multipart parts split at their boundary lines,
 * message/* bodies opened as an entity of their own. Nothing is decoded or kept but the current
 * header line of the entity in its headers and the unfinished line.
 *
 * Zeek (src/analyzer/protocol/mime/MIME.cc, BeginChildEntity) does not open a child entity of an
 * entity at depth MIME::max_depth (100) or deeper: it reports `exceeded_mime_max_depth` and the
 * rest of that entity goes unanalysed, which its conn.log history shows as `X`. `limitHit` is that.
 */

/** Zeek's MIME::max_depth. */
export const MIME_MAX_DEPTH = 100;
/** A longer line is cut here: what follows its first bytes matters neither to boundaries nor to headers we read. */
const MAX_LINE = 16 * 1024;

const OTHER = 0;
const MULTIPART = 1;
const MESSAGE = 2;

class Entity {
  inHeader = true;
  ended = false;
  kind = OTHER;
  boundary = '';
  child: Entity | null = null;
  /** The header line being read (continuation lines appended). */
  header: string | null = null;
  constructor(readonly depth: number) {}

  /** A Content-Type value: multipart (with a boundary) and message/* have entities inside. */
  setType(value: string): void {
    const m = /^[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*\/[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(value);
    if (m === null) return;
    const type = m[1].toLowerCase();
    this.kind = OTHER;
    if (type === 'message') this.kind = MESSAGE;
    else if (type === 'multipart') {
      // As Zeek's MIME_get_value for a boundary: a quoted string, or any printable run but '"'.
      const b = /;[ \t]*boundary[ \t]*=("([^"]*)"|[\x21\x23-\x7e]+)/i.exec(value.slice(m[0].length));
      if (b !== null) {
        this.kind = MULTIPART;
        this.boundary = b[2] ?? b[1];
      }
    }
  }

  finishHeader(): void {
    const h = this.header;
    this.header = null;
    if (h === null) return;
    const colon = h.indexOf(':');
    if (colon > 0 && h.slice(0, colon).trim().toLowerCase() === 'content-type') this.setType(h.slice(colon + 1));
  }
}

/** 0: not a delimiter of `boundary`; 1: a part delimiter; 2: the closing delimiter. */
function delimiter(line: string, boundary: string): number {
  if (!line.startsWith('--') || !line.startsWith(boundary, 2)) return 0;
  return line.startsWith('--', 2 + boundary.length) ? 2 : 1;
}

/**
 * `/^[ \t]*(multipart|message)[ \t]*\//i.test(ctype)`, the regular expression run only when the
 * type starts with an m: every response has a Content-Type, and a regex test made garbage for each.
 */
function entityType(ctype: string): boolean {
  let i = 0;
  while (i < ctype.length && (ctype.charCodeAt(i) === 0x20 || ctype.charCodeAt(i) === 0x09)) i++;
  return i < ctype.length && (ctype.charCodeAt(i) | 0x20) === 0x6d && ENTITY_TYPE_RE.test(ctype);
}
const ENTITY_TYPE_RE = /^[ \t]*(multipart|message)[ \t]*\//i;

export class MimeWalker {
  /** An entity at the depth limit wanted a child (Zeek's exceeded_mime_max_depth). */
  limitHit = false;
  private readonly root: Entity;
  private line = '';
  private cut = false;

  private constructor(
    contentType: string,
    private readonly maxDepth: number,
  ) {
    // The HTTP message is the top entity: its headers were the HTTP headers.
    this.root = new Entity(0);
    this.root.inHeader = false;
    this.root.setType(contentType);
    this.beginBody(this.root);
  }

  /** A walker for a body of that Content-Type, or null when it has no entities inside. */
  static forContentType(contentType: string | null, maxDepth = MIME_MAX_DEPTH): MimeWalker | null {
    if (contentType === null || !entityType(contentType)) return null;
    return new MimeWalker(contentType, maxDepth);
  }

  /** Body bytes buf[a, b), split into lines at LF (a CR before it dropped). */
  feed(buf: Buffer, a: number, b: number): void {
    let p = a;
    while (p < b) {
      const lf = buf.indexOf(0x0a, p);
      const e = lf < 0 || lf >= b ? b : lf;
      if (!this.cut) {
        const room = MAX_LINE - this.line.length;
        this.line += buf.toString('latin1', p, Math.min(e, p + room));
        if (e - p > room) this.cut = true;
      }
      if (e === b) return;
      let line = this.line;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      this.line = '';
      this.cut = false;
      this.deliver(line);
      p = e + 1;
    }
  }

  /** The body ended: an unfinished last line counts as a line. */
  end(): void {
    if (this.line.length > 0) this.deliver(this.line);
    this.line = '';
  }

  private deliver(line: string): void {
    let e: Entity | null = this.root;
    while (e !== null) {
      if (e.inHeader) {
        if (line.length === 0) {
          e.finishHeader();
          e.inHeader = false;
          if (!e.ended) this.beginBody(e);
        } else if (line[0] === ' ' || line[0] === '\t') {
          if (e.header === null) e.header = line.trimStart();
          else if (e.header.length < MAX_LINE) e.header += line;
        } else {
          e.finishHeader();
          e.header = line;
        }
        return;
      }
      if (e.kind === MULTIPART) {
        const d = delimiter(line, e.boundary);
        if (d === 1) {
          e.child = null;
          if (!e.ended) this.beginChild(e);
          return;
        }
        if (d === 2) {
          e.child = null;
          e.ended = true;
          return;
        }
      }
      // Multipart and message bodies go to the entity inside; other content is not followed.
      e = e.kind === OTHER ? null : e.child;
    }
  }

  private beginBody(e: Entity): void {
    if (e.kind === MESSAGE) this.beginChild(e);
  }

  private beginChild(e: Entity): void {
    if (e.depth >= this.maxDepth) {
      this.limitHit = true;
      return;
    }
    e.child = new Entity(e.depth + 1);
  }
}
