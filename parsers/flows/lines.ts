/**
 * Bounded-memory splitting of a byte stream into units: text lines, or the elements of a
 * top-level JSON array. A unit longer than the limit is dropped as it streams past (never
 * accumulated) and reported with its line number, so one giant line cannot exhaust memory.
 */

export interface UnitSink {
  /** One complete unit (without its line terminator); `line` is the 1-based line where it starts. */
  unit(text: string, line: number): void;
  /** A unit of more than `limit` bytes starting at `line` was skipped. */
  tooLong(line: number, limit: number): void;
  /** Input-level syntax problem (JSON array framing); `line` where it was found. */
  framing(line: number, reason: string): void;
}

const NL = 0x0a;
const CR = 0x0d;

/** Accumulates the pieces of one unit across chunks, up to `limit` bytes. */
class Carry {
  private parts: Buffer[] = [];
  len = 0;
  overflow = false;

  constructor(private readonly limit: number) {}

  add(b: Buffer): void {
    if (this.overflow || b.length === 0) return;
    if (this.len + b.length > this.limit) {
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
    if (this.overflow || this.len + tail.length > this.limit) {
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
  }
}

/** Text lines separated by LF (CRLF tolerated). */
export class LineSplitter {
  /** Lines completed so far. */
  lines = 0;
  private readonly carry: Carry;

  constructor(
    private readonly sink: UnitSink,
    private readonly limit: number,
  ) {
    this.carry = new Carry(limit);
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
    if (this.carry.empty()) {
      text = tail.length > this.limit ? null : tail.toString('utf8');
    } else {
      text = this.carry.take(tail);
      // A CR that ended the previous chunk belongs to this line's CRLF.
      if (text !== null && tail.length === 0 && text.endsWith('\r')) text = text.slice(0, -1);
    }
    if (text === null) this.sink.tooLong(this.lines, this.limit);
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
