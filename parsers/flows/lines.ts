/**
 * Bounded-memory splitting of a byte stream into units: text lines, or the elements of a
 * top-level JSON array. A unit longer than the limit is dropped as it streams past (never
 * accumulated) and reported with its line number, so one giant line cannot exhaust memory.
 */

export interface UnitSink {
  /** One complete unit (without its line terminator); `line` is the 1-based line where it starts. */
  unit(text: string, line: number): void;
  /** A unit of more than `limit` bytes starting at `line` was skipped (`document`: the limit was the document one). */
  tooLong(line: number, limit: number, document?: boolean): void;
  /** Input-level syntax problem (JSON array framing); `line` where it was found. */
  framing(line: number, reason: string): void;
}

const NL = 0x0a;
const CR = 0x0d;

/**
 * A line that may be longer than the line limit because it is one JSON document (a Firehose
 * delivery): `accepts` sees the unit's first bytes once the line limit is passed, and when it
 * says yes the unit may grow to `limit` bytes.
 */
export interface DocumentBound {
  limit: number;
  accepts(head: string): boolean;
}

/** Bytes of a unit's start shown to DocumentBound.accepts. */
const HEAD_BYTES = 512;

/** Accumulates the pieces of one unit across chunks, up to `limit` bytes (or the document bound's). */
class Carry {
  private parts: Buffer[] = [];
  len = 0;
  overflow = false;
  /** The unit was let past the line limit as a document. */
  document = false;
  /** The bound of the last unit taken (for the report of one that did not fit). */
  taken = { limit: 0, document: false };

  constructor(
    private readonly limit: number,
    private readonly doc?: DocumentBound,
  ) {}

  /** Whether a unit of `total` bytes starting with what is held (then `next`) may be kept. */
  fits(total: number, next: Buffer): boolean {
    if (total <= this.limit) return true;
    if (this.doc === undefined || total > this.doc.limit) return false;
    if (!this.document) {
      const held = this.parts.length === 0 ? next : Buffer.concat([this.parts[0], next.subarray(0, HEAD_BYTES)]);
      this.document = this.doc.accepts(held.subarray(0, HEAD_BYTES).toString('utf8'));
    }
    return this.document;
  }

  add(b: Buffer): void {
    if (this.overflow || b.length === 0) return;
    if (!this.fits(this.len + b.length, b)) {
      // Drop what we held: the unit will be reported, not parsed.
      this.overflow = true;
      this.parts = [];
      return;
    }
    // Chunks are reused by some streams; copy only the (bounded) remainder we keep.
    this.parts.push(Buffer.from(b));
    this.len += b.length;
  }

  take(tail: Buffer): string | null {
    if (this.overflow || !this.fits(this.len + tail.length, tail)) {
      this.taken = this.limitOf();
      this.reset();
      return null;
    }
    const s = this.parts.length === 0 ? tail.toString('utf8') : Buffer.concat([...this.parts, tail]).toString('utf8');
    this.reset();
    return s;
  }

  empty(): boolean {
    return this.len === 0 && !this.overflow;
  }

  reset(): void {
    this.parts = [];
    this.len = 0;
    this.overflow = false;
    this.document = false;
  }

  /** The limit a unit that did not fit passed. */
  limitOf(): { limit: number; document: boolean } {
    return this.document && this.doc ? { limit: this.doc.limit, document: true } : { limit: this.limit, document: false };
  }
}

/**
 * Text lines separated by LF (CRLF tolerated). With a DocumentBound, a line the bound accepts may
 * pass the line limit up to the document limit: a JSON delivery sent as one line.
 */
export class LineSplitter {
  /** Lines completed so far. */
  lines = 0;
  private readonly carry: Carry;

  constructor(
    private readonly sink: UnitSink,
    private readonly limit: number,
    doc?: DocumentBound,
  ) {
    this.carry = new Carry(limit, doc);
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NL, start);
      if (nl < 0) {
        this.carry.add(chunk.subarray(start));
        return;
      }
      const end = nl > start && chunk[nl - 1] === CR ? nl - 1 : nl;
      this.emit(chunk.subarray(start, end));
      start = nl + 1;
    }
  }

  end(): void {
    if (!this.carry.empty()) this.emit(Buffer.alloc(0));
  }

  private emit(tail: Buffer): void {
    this.lines++;
    let text: string | null;
    let bound: { limit: number; document: boolean };
    if (this.carry.empty()) {
      text = tail.length > this.limit && !this.carry.fits(tail.length, tail) ? null : tail.toString('utf8');
      bound = this.carry.limitOf();
      this.carry.reset();
    } else {
      text = this.carry.take(tail);
      bound = this.carry.taken;
      // A CR that ended the previous chunk belongs to this line's CRLF.
      if (text !== null && tail.length === 0 && text.endsWith('\r')) text = text.slice(0, -1);
    }
    if (text === null) this.sink.tooLong(this.lines, bound.limit, bound.document);
    else this.sink.unit(text, this.lines);
  }
}

enum J {
  BEFORE, // waiting for '['
  IN, // inside the array, between or within elements
  AFTER, // after ']'
}

/**
 * Elements of a top-level JSON array, found by tracking string/escape state and nesting depth
 * byte by byte; each element's text is handed over for JSON.parse. Several arrays one after
 * the other (concatenated uploads) are accepted.
 */
export class JsonArraySplitter {
  lines = 1;
  private state = J.BEFORE;
  private depth = 0;
  private inString = false;
  private escape = false;
  /** Line where the current element's first non-blank byte is; 0 while none seen. */
  private elemLine = 0;
  private readonly carry: Carry;
  private framingReported = false;

  constructor(
    private readonly sink: UnitSink,
    private readonly limit: number,
  ) {
    this.carry = new Carry(limit);
  }

  push(chunk: Buffer): void {
    // Start in this chunk of the element bytes not yet carried: 0 when an element continues from the last chunk.
    let segStart = this.state === J.IN && this.elemLine !== 0 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === NL) this.lines++;
      if (this.state !== J.IN) {
        if (c === 0x5b /* [ */) {
          this.state = J.IN;
          this.depth = 0;
        } else if (!isBlank(c)) this.reportFraming(this.state === J.BEFORE ? 'input does not start with a JSON array' : 'data after the end of the JSON array');
        continue;
      }
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === 0x5c) this.escape = true;
        else if (c === 0x22) this.inString = false;
        continue;
      }
      if (this.depth === 0 && (c === 0x2c /* , */ || c === 0x5d) /* ] */) {
        if (segStart >= 0) this.carry.add(chunk.subarray(segStart, i));
        segStart = -1;
        this.finishElement(c === 0x5d);
        if (c === 0x5d) this.state = J.AFTER;
        continue;
      }
      if (this.elemLine === 0) {
        if (isBlank(c)) continue;
        this.elemLine = this.lines;
      }
      if (segStart < 0) segStart = i;
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) this.depth--;
    }
    if (segStart >= 0) this.carry.add(chunk.subarray(segStart));
  }

  end(): void {
    if (this.state === J.IN) this.sink.framing(this.lines, 'JSON array not closed at end of input');
    else if (this.state === J.BEFORE && !this.framingReported) this.sink.framing(this.lines, 'empty input');
  }

  private finishElement(last: boolean): void {
    const line = this.elemLine;
    this.elemLine = 0;
    if (line === 0) {
      // `[]` or a trailing/double comma.
      if (!last) this.sink.framing(this.lines, 'empty element in JSON array');
      this.carry.reset();
      return;
    }
    const text = this.carry.take(Buffer.alloc(0));
    if (text === null) this.sink.tooLong(line, this.limit);
    else this.sink.unit(text.trimEnd(), line);
  }

  private reportFraming(reason: string): void {
    if (this.framingReported) return;
    this.framingReported = true;
    this.sink.framing(this.lines, reason);
  }
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === NL || c === CR;
}
