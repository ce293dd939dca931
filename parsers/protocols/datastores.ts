/**
 * Identification, with a few key fields, of the datastore protocols pods talk to: Redis (RESP),
 * PostgreSQL (startup message, SSLRequest), MySQL (server greeting, client handshake), Kafka
 * (request header, confirmed by the response's correlation id) and MongoDB (OP_MSG / OP_QUERY).
 *
 * Only the first few messages of each side are looked at (MAX_MESSAGES); after that the analyzer
 * stops parsing, so its cost on a long-lived connection is bounded. Each emits one generic `app`
 * record at the end of the connection. A PostgreSQL SSLRequest or MySQL SSL request the server
 * accepts hands the stream to the TLS analyzer (ssl.log), as Zeek does.
 */
import { type AnalyzerOptions, BaseAnalyzer, StreamBuffer } from './analyzer';
import type { AppIdRecord, DatastoreProtocol } from '../record/app';

const MAX_MESSAGES = 8;
const MAX_COMMANDS = 8;
/** Longest message looked at: larger ones are skipped (their header is enough) or reject while probing. */
const MAX_LOOK = 16 * 1024;
/** Redis arguments above this size are skipped instead of waited for. */
const LARGE_ARG = 4096;

/**
 * Shared frame: per-direction StreamBuffers feeding `frame`, message counting, the record.
 * Subclasses parse one message at buf[off, end) and return its length, 0 for more, -1 to stop.
 */
abstract class DatastoreAnalyzer extends BaseAnalyzer {
  abstract readonly protocol: DatastoreProtocol;
  // Assigned in the constructor, not as class fields: see BaseAnalyzer (five subclasses here).
  declare protected readonly rec: AppIdRecord;
  declare protected readonly msgs: number[];
  declare protected curTs: number;
  /** Bytes of the current oversized message still to skip, per direction. */
  declare private readonly skip: number[];
  declare private readonly bufs: [StreamBuffer, StreamBuffer];

  constructor(opts: AnalyzerOptions) {
    super(opts);
    this.msgs = [0, 0];
    this.curTs = 0;
    this.skip = [0, 0];
    this.rec = {
      kind: 'app',
      ts: 0,
      protocol: 'redis',
      user: null,
      database: null,
      application_name: null,
      server_version: null,
      client_id: null,
      commands: [],
      tls_requested: false,
      tls_accepted: false,
    };
    const bound = Math.min(this.maxBuffer, MAX_LOOK) + 64;
    this.bufs = [new StreamBuffer(bound, (b, o, e) => this.step(false, b, o, e)), new StreamBuffer(bound, (b, o, e) => this.step(true, b, o, e))];
  }

  protected onData(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    const d = isOrig ? 1 : 0;
    if (this.msgs[d] >= MAX_MESSAGES && this.state === 'confirmed') return;
    if (this.rec.ts === 0) this.rec.ts = ts;
    this.curTs = ts;
    if (!this.bufs[d].feed(buf, off, len)) this.reject(`${this.name}-buffer`, 'message beyond the look-ahead bound', isOrig, ts);
  }

  private step(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    if (!this.active) return -1;
    const d = isOrig ? 1 : 0;
    if (this.skip[d] > 0) {
      const n = Math.min(this.skip[d], end - off);
      this.skip[d] -= n;
      return n;
    }
    if (this.msgs[d] >= MAX_MESSAGES) return -1;
    const n = this.message(isOrig, buf, off, end);
    if (n > 0) this.msgs[d]++;
    return n;
  }

  /** Skip a message of `total` bytes of which `avail` are present (no buffering of its body). */
  protected skipBody(isOrig: boolean, total: number, avail: number): number {
    const n = Math.min(total, avail);
    this.skip[isOrig ? 1 : 0] = total - n;
    return n;
  }

  protected abstract message(isOrig: boolean, buf: Buffer, off: number, end: number): number;

  protected override onGap(isOrig: boolean, len: number): void {
    // Once identified the fields are known; later gaps do not matter.
    if (this.state === 'probing') super.onGap(isOrig, len);
    else this.msgs[0] = this.msgs[1] = MAX_MESSAGES;
  }

  protected override onEnd(_ts: number): void {
    this.rec.protocol = this.protocol;
    this.sink({ ...this.rec, commands: this.rec.commands.slice() });
  }

  protected command(c: string): void {
    if (this.rec.commands.length < MAX_COMMANDS) this.rec.commands.push(c);
  }
}

function cstring(buf: Buffer, off: number, end: number): number {
  const z = buf.indexOf(0, off);
  return z < 0 || z >= end ? -1 : z;
}

function printableAscii(buf: Buffer, a: number, b: number): boolean {
  for (let i = a; i < b; i++) if (buf[i] < 0x20 || buf[i] > 0x7e) return false;
  return true;
}

// ---------------------------------------------------------------- Redis (RESP2/3)

/** Client commands are arrays of bulk strings: `*<n>\r\n$<len>\r\n<arg>\r\n...`. */
export class RedisAnalyzer extends DatastoreAnalyzer {
  readonly name = 'redis';
  readonly protocol = 'redis';

  /** Arguments of the current command still to parse after a large one was skipped. */
  private pendingArgs = 0;

  protected message(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    if (!isOrig) {
      // Replies start with one of the RESP type bytes; the client side decides.
      if (this.state === 'probing' && this.msgs[1] === 0) {
        this.reject('redis-server-first', 'server spoke first', isOrig, this.curTs);
        return -1;
      }
      return end - off;
    }
    let p = off;
    let args = this.pendingArgs;
    const continuing = args > 0;
    if (!continuing) {
      if (buf[off] !== 0x2a) {
        this.reject('redis-not-array', 'client message is not a RESP array', isOrig, this.curTs);
        return -1;
      }
      const count = readLineInt(buf, off + 1, end);
      if (count === null) return end - off > 32 ? this.bad(isOrig) : 0;
      if (count.value < 1 || count.value > 1024 * 1024) return this.bad(isOrig);
      args = count.value;
      p = count.next;
    }
    let name: string | null = null;
    for (let i = 0; i < args; i++) {
      if (p >= end) return 0;
      if (buf[p] !== 0x24) return this.bad(isOrig);
      const len = readLineInt(buf, p + 1, end);
      if (len === null) return end - p > 32 ? this.bad(isOrig) : 0;
      if (len.value < 0 || len.value > 512 * 1024 * 1024) return this.bad(isOrig);
      const dataEnd = len.next + len.value;
      if (i === 0 && !continuing) {
        if (len.value === 0 || len.value > 64) return this.bad(isOrig);
        if (dataEnd + 2 > end) return 0;
        if (!printableAscii(buf, len.next, dataEnd)) return this.bad(isOrig);
        name = buf.toString('latin1', len.next, dataEnd).toUpperCase();
      }
      if (dataEnd + 2 > end) {
        // Small arguments are waited for (the whole array is parsed again); a large one (a value
        // being SET) is skipped rather than buffered, and the rest of the array parsed after it.
        if (len.value <= LARGE_ARG) return 0;
        if (name !== null) this.finishCommand(name);
        this.pendingArgs = args - i - 1;
        return this.skipBody(isOrig, dataEnd + 2 - off, end - off);
      }
      p = dataEnd + 2;
    }
    this.pendingArgs = 0;
    if (name !== null) this.finishCommand(name);
    return p - off;
  }

  private finishCommand(name: string): void {
    this.confirm();
    this.command(name);
  }

  private bad(isOrig: boolean): number {
    this.reject('redis-framing', 'malformed RESP array', isOrig, this.curTs);
    return -1;
  }
}

/** `<digits>\r\n` at buf[p]: the value and the offset after CRLF, or null when incomplete/bad. */
function readLineInt(buf: Buffer, p: number, end: number): { value: number; next: number } | null {
  let v = 0;
  let neg = false;
  let i = p;
  if (i < end && buf[i] === 0x2d) {
    neg = true;
    i++;
  }
  const start = i;
  while (i < end && buf[i] >= 0x30 && buf[i] <= 0x39 && i - start < 12) v = v * 10 + (buf[i++] - 0x30);
  if (i + 1 >= end || i === start) return null;
  if (buf[i] !== 0x0d || buf[i + 1] !== 0x0a) return { value: -2, next: i };
  return { value: neg ? -v : v, next: i + 2 };
}

// ---------------------------------------------------------------- PostgreSQL

const PG_PROTOCOL_3 = 196608;
const PG_SSL_REQUEST = 80877103;
const PG_GSSENC_REQUEST = 80877104;
const PG_CANCEL = 80877102;

export class PostgresAnalyzer extends DatastoreAnalyzer {
  readonly name = 'postgresql';
  readonly protocol = 'postgresql';
  private startupSeen = false;
  private awaitingSslAnswer = false;

  protected message(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    if (!isOrig) {
      if (this.awaitingSslAnswer) {
        this.awaitingSslAnswer = false;
        this.rec.tls_accepted = buf[off] === 0x53; // 'S'
        if (this.rec.tls_accepted) {
          // TLS follows in both directions: hand the stream to the TLS analyzer.
          this.msgs[0] = this.msgs[1] = MAX_MESSAGES;
          this.startTls(false, buf, off + 1, end);
          return -1;
        }
        return 1;
      }
      if (this.state === 'probing') {
        this.reject('pg-server-first', 'server spoke first', isOrig, this.curTs);
        return -1;
      }
      return end - off;
    }
    if (this.startupSeen) return end - off;
    if (this.rec.tls_requested && buf[off] === 0x16) {
      // The client went on with a TLS ClientHello: the server accepted (its 'S' may not be parsed yet).
      this.rec.tls_accepted = true;
      this.msgs[0] = this.msgs[1] = MAX_MESSAGES;
      this.startTls(true, buf, off, end);
      return -1;
    }
    if (end - off < 8) return 0;
    const len = buf.readUInt32BE(off);
    const code = buf.readUInt32BE(off + 4);
    if (len < 8 || len > 10000) {
      this.reject('pg-length', `startup length ${len}`, isOrig, this.curTs);
      return -1;
    }
    if (code === PG_SSL_REQUEST || code === PG_GSSENC_REQUEST) {
      if (len !== 8) return this.bad(isOrig);
      this.confirm();
      this.rec.tls_requested = true;
      this.awaitingSslAnswer = true;
      return 8;
    }
    if (code === PG_CANCEL) {
      if (len !== 16) return this.bad(isOrig);
      this.confirm();
      this.command('CancelRequest');
      this.startupSeen = true;
      return 16;
    }
    if (code !== PG_PROTOCOL_3) return this.bad(isOrig);
    if (end - off < len) return 0;
    // key\0value\0 ... \0
    let p = off + 8;
    const stop = off + len;
    let pairs = 0;
    while (p < stop && buf[p] !== 0 && pairs++ < 64) {
      const k = cstring(buf, p, stop);
      if (k < 0) return this.bad(isOrig);
      const v = cstring(buf, k + 1, stop);
      if (v < 0) return this.bad(isOrig);
      const key = buf.toString('latin1', p, k);
      const value = buf.toString('utf8', k + 1, v);
      if (key === 'user') this.rec.user = value;
      else if (key === 'database') this.rec.database = value;
      else if (key === 'application_name') this.rec.application_name = value;
      p = v + 1;
    }
    if (this.rec.user === null) return this.bad(isOrig); // 'user' is required by the protocol
    this.confirm();
    this.startupSeen = true;
    return len;
  }

  private bad(isOrig: boolean): number {
    this.reject('pg-startup', 'malformed startup message', isOrig, this.curTs);
    return -1;
  }
}

// ---------------------------------------------------------------- MySQL

const MYSQL_CLIENT_SSL = 0x0800;
const MYSQL_CLIENT_PROTOCOL_41 = 0x0200;

export class MysqlAnalyzer extends DatastoreAnalyzer {
  readonly name = 'mysql';
  readonly protocol = 'mysql';

  protected message(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    if (end - off < 4) return 0;
    const len = buf.readUIntLE(off, 3);
    const seq = buf[off + 3];
    if (this.state === 'probing' && (isOrig || seq !== 0 || len < 10 || len > MAX_LOOK)) {
      this.reject('mysql-greeting', 'no server greeting', isOrig, this.curTs);
      return -1;
    }
    if (end - off < 4 + len) return len > MAX_LOOK ? this.skipBody(isOrig, 4 + len, end - off) : 0;
    const p = off + 4;
    if (!isOrig && this.state === 'probing') {
      // Greeting: protocol 10, NUL-terminated printable version.
      const z = cstring(buf, p + 1, p + len);
      if (buf[p] !== 10 || z < 0 || z - p - 1 > 64 || !printableAscii(buf, p + 1, z)) {
        this.reject('mysql-greeting', 'not a protocol-10 greeting', isOrig, this.curTs);
        return -1;
      }
      this.rec.server_version = buf.toString('latin1', p + 1, z);
      this.confirm();
    } else if (isOrig && seq === 1 && len >= 32) {
      const caps = buf.readUInt32LE(p);
      if (caps & MYSQL_CLIENT_PROTOCOL_41) {
        if (caps & MYSQL_CLIENT_SSL) this.rec.tls_requested = true;
        if (len === 32 && this.rec.tls_requested) {
          // SSL request: the handshake response (with the user) is sent inside TLS.
          this.rec.tls_accepted = true;
          this.msgs[0] = this.msgs[1] = MAX_MESSAGES;
          this.startTls(true, buf, p + len, end);
          return -1;
        } else {
          const z = cstring(buf, p + 32, p + len);
          if (z > 0) this.rec.user = buf.toString('utf8', p + 32, z);
        }
      }
    }
    return 4 + len;
  }
}

// ---------------------------------------------------------------- Kafka

/** Highest request API key defined (Kafka 3.x protocol guide); anything beyond is not Kafka. */
const KAFKA_MAX_API_KEY = 80;

export class KafkaAnalyzer extends DatastoreAnalyzer {
  readonly name = 'kafka';
  readonly protocol = 'kafka';
  private readonly correlation = new Set<number>();

  protected message(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    if (end - off < 8) return 0;
    const size = buf.readInt32BE(off);
    if (size < 4 || size > 100 * 1024 * 1024) {
      this.reject('kafka-size', `message size ${size}`, isOrig, this.curTs);
      return -1;
    }
    if (isOrig) {
      if (end - off < 14) return 0;
      const apiKey = buf.readInt16BE(off + 4);
      const apiVersion = buf.readInt16BE(off + 6);
      const corr = buf.readInt32BE(off + 8);
      const idLen = buf.readInt16BE(off + 12);
      if (apiKey < 0 || apiKey > KAFKA_MAX_API_KEY || apiVersion < 0 || apiVersion > 30 || idLen < -1 || idLen > size - 10) {
        this.reject('kafka-header', 'implausible request header', isOrig, this.curTs);
        return -1;
      }
      if (idLen > 0) {
        if (end - off < 14 + idLen) return size + 4 > MAX_LOOK ? this.reject2(isOrig) : 0;
        if (!printableAscii(buf, off + 14, off + 14 + idLen)) {
          this.reject('kafka-client-id', 'client id is not printable', isOrig, this.curTs);
          return -1;
        }
        if (this.rec.client_id === null) this.rec.client_id = buf.toString('latin1', off + 14, off + 14 + idLen);
      }
      if (this.correlation.size < 64) this.correlation.add(corr);
      this.command(`${apiKey}/${apiVersion}`);
      return this.skipBody(isOrig, size + 4, end - off);
    }
    const corr = buf.readInt32BE(off + 4);
    // A response echoing a request's correlation id is what tells Kafka from random binary.
    if (this.correlation.has(corr)) this.confirm();
    else if (this.state === 'probing') {
      this.reject('kafka-correlation', 'response correlation id matches no request', isOrig, this.curTs);
      return -1;
    }
    return this.skipBody(isOrig, size + 4, end - off);
  }

  private reject2(isOrig: boolean): number {
    this.reject('kafka-header', 'client id beyond the look-ahead', isOrig, this.curTs);
    return -1;
  }
}

// ---------------------------------------------------------------- MongoDB

const OP_MSG = 2013;
const OP_QUERY = 2004;
const OP_REPLY = 1;
const OP_COMPRESSED = 2012;

export class MongoAnalyzer extends DatastoreAnalyzer {
  readonly name = 'mongodb';
  readonly protocol = 'mongodb';

  protected message(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    if (end - off < 16) return 0;
    const len = buf.readInt32LE(off);
    const responseTo = buf.readInt32LE(off + 8);
    const op = buf.readInt32LE(off + 12);
    const okOp = op === OP_MSG || op === OP_QUERY || op === OP_COMPRESSED || (!isOrig && op === OP_REPLY);
    if (len < 16 || len > 48 * 1000 * 1000 || !okOp || (this.state === 'probing' && isOrig && responseTo !== 0)) {
      this.reject('mongo-header', `implausible message header (length ${len}, opCode ${op})`, isOrig, this.curTs);
      return -1;
    }
    if (!isOrig) {
      if (this.state === 'probing') {
        this.reject('mongo-server-first', 'server spoke first', isOrig, this.curTs);
        return -1;
      }
      return this.skipBody(isOrig, len, end - off);
    }
    if (op === OP_MSG) {
      // flagBits, then section kind 0: one BSON document whose first key is the command.
      const need = Math.min(len, 16 + 4 + 1 + 4 + 256);
      if (end - off < need) return len > MAX_LOOK ? this.skipBody(isOrig, len, end - off) : 0;
      const sec = off + 20;
      if (buf[sec] !== 0) return this.skipBody(isOrig, len, end - off);
      const doc = sec + 1;
      const docLen = buf.readInt32LE(doc);
      if (docLen < 5 || doc + docLen > off + len) {
        this.reject('mongo-bson', 'BSON document length past the message', isOrig, this.curTs);
        return -1;
      }
      const avail = Math.min(end, doc + docLen);
      const first = bsonFirstKey(buf, doc + 4, avail);
      if (first === null) {
        this.reject('mongo-bson', 'no command key', isOrig, this.curTs);
        return -1;
      }
      this.confirm();
      this.command(first);
      const db = bsonString(buf, doc + 4, avail, '$db');
      if (db !== null && this.rec.database === null) this.rec.database = db;
    } else if (op === OP_QUERY) {
      // flags, fullCollectionName cstring ('admin.$cmd'): the database is its first part.
      if (end - off < Math.min(len, 20 + 128)) return len > MAX_LOOK ? this.skipBody(isOrig, len, end - off) : 0;
      const z = cstring(buf, off + 20, Math.min(end, off + len));
      if (z < 0 || !printableAscii(buf, off + 20, z)) {
        this.reject('mongo-query', 'bad collection name', isOrig, this.curTs);
        return -1;
      }
      const coll = buf.toString('latin1', off + 20, z);
      this.confirm();
      if (this.rec.database === null) this.rec.database = coll.split('.')[0];
      this.command('OP_QUERY');
    } else {
      this.confirm();
      this.command('OP_COMPRESSED');
    }
    return this.skipBody(isOrig, len, end - off);
  }
}

/** First element name of a BSON document body at p (after its length), or null. */
function bsonFirstKey(buf: Buffer, p: number, end: number): string | null {
  if (p >= end || buf[p] === 0) return null;
  const z = cstring(buf, p + 1, end);
  if (z < 0 || z - p - 1 > 64 || !printableAscii(buf, p + 1, z)) return null;
  return buf.toString('latin1', p + 1, z);
}

/** Value of a top-level string element `key`, walking at most 32 elements of known types. */
function bsonString(buf: Buffer, p: number, end: number, key: string): string | null {
  for (let i = 0; i < 32 && p < end && buf[p] !== 0; i++) {
    const type = buf[p];
    const z = cstring(buf, p + 1, end);
    if (z < 0) return null;
    const name = buf.toString('latin1', p + 1, z);
    let v = z + 1;
    let size: number;
    switch (type) {
      case 0x01:
      case 0x09:
      case 0x11:
      case 0x12:
        size = 8;
        break;
      case 0x10:
        size = 4;
        break;
      case 0x08:
        size = 1;
        break;
      case 0x0a:
        size = 0;
        break;
      case 0x07:
        size = 12;
        break;
      case 0x02: {
        if (v + 4 > end) return null;
        const l = buf.readInt32LE(v);
        if (l < 1 || v + 4 + l > end) return null;
        if (name === key) return buf.toString('utf8', v + 4, v + 4 + l - 1);
        size = 4 + l;
        break;
      }
      case 0x03:
      case 0x04: {
        if (v + 4 > end) return null;
        size = buf.readInt32LE(v);
        if (size < 5) return null;
        break;
      }
      default:
        return null;
    }
    v += size;
    p = v;
  }
  return null;
}
