/**
 * Dynamic service detection for one connection, as Zeek's DPD does: every candidate analyzer sees
 * the first bytes in parallel, whatever the port; those that reject drop out; once one confirms,
 * the others still probing are dropped and the confirmed one carries on alone. `services` lists
 * the confirmed protocols for the connection record's `service` field.
 *
 * When the confirmed analyzer reports an in-band protocol switch (HTTP/1.1 101 to h2c), its
 * successor takes over the connection from the switch point, and both protocols are listed. A
 * tunnel (HTTP CONNECT answered 2xx) is detected afresh by a nested multiplexer, whose protocols
 * follow the outer one's (`http,ssl`).
 */
import type { AnalyzerIssue, AnalyzerOptions, AnnouncedConnection, AppTransport, ProtocolSwitch, StreamAnalyzer } from './analyzer';
import type { AnyAppRecord, AppRecord, IdentRecord } from '../record/app';
import { DnsAnalyzer, plausibleHeader } from './dns';
import { HttpAnalyzer } from './http';
import { H2_PREFACE, Http2Analyzer } from './http2';
import { TlsAnalyzer, isStun } from './tls';
import { SshAnalyzer } from './ssh';
import { QuicAnalyzer, isKnownVersion } from './quic';
import { StartTlsAnalyzer } from './starttls';
import { GNUTELLA_PORT, GnutellaAnalyzer } from './gnutella';
import { KafkaAnalyzer, MongoAnalyzer, MysqlAnalyzer, PostgresAnalyzer, RedisAnalyzer } from './datastores';
import { SYSLOG_TCP_PORT, SyslogTcpAnalyzer } from './syslog';
import { DHCP_PORTS, DhcpAnalyzer, NTP_PORT, NtpAnalyzer, RDPEUDP_PORT, RdpeudpAnalyzer } from './udp-services';

export interface AnalyzerFactory {
  readonly name: string;
  readonly transports: readonly AppTransport[];
  /**
   * Cheap pre-filter on the connection's first payload (either direction): false means the
   * analyzer would reject these bytes, so it is not even constructed. Must accept short input.
   * `transport` is the connection's (left out: either reading must be allowed).
   */
  accepts?(isOrig: boolean, buf: Buffer, off: number, len: number, transport?: AppTransport): boolean;
  create(opts: AnalyzerOptions): StreamAnalyzer;
  /**
   * Responder ports Zeek attaches this analyzer to whatever the first bytes: on them, when the
   * first payload is not this protocol's (a garbled request), the analyzer still gets the other
   * direction from its first payload on (Zeek logs the response without its request).
   */
  ports?: readonly number[];
  /**
   * Attached only on its `ports`, whatever the bytes (Zeek's Analyzer::register_for_port for an
   * analyzer without a signature).
   */
  portsOnly?: boolean;
}

const upperThenSpace = (b: Buffer, o: number, n: number): boolean => {
  for (let i = 0; i < n && i < 21; i++) {
    const c = b[o + i];
    if (c === 0x20) return i > 0;
    if (!((c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f)) return false;
  }
  return true;
};
const prefix = (b: Buffer, o: number, n: number, p: string): boolean => {
  for (let i = 0; i < n && i < p.length; i++) if (b[o + i] !== p.charCodeAt(i)) return false;
  return true;
};
/** A prefix and its lower case, made once: the first payload of every connection is tried against them. */
type CasedPrefix = readonly [upper: string, lower: string];
const cased = (ps: readonly string[]): readonly CasedPrefix[] => ps.map((p) => [p, p.toLowerCase()] as const);
/** Case-insensitive `prefix` on the bytes present (short input passes), for any of the prefixes. */
const anyPrefixCI = (b: Buffer, o: number, n: number, ps: readonly CasedPrefix[]): boolean => {
  for (const [p, lower] of ps) {
    let i = 0;
    for (; i < n && i < p.length; i++) {
      const c = b[o + i];
      if (c !== p.charCodeAt(i) && c !== lower.charCodeAt(i)) break;
    }
    if (i === n || i === p.length) return true;
  }
  return false;
};
const STARTTLS_CLIENT = cased(['EHLO', 'HELO', 'NICK', 'CAP ', 'PASS', 'STARTTLS', '<?xml', '<stream']);
/** OP_MSG, OP_QUERY, OP_COMPRESSED. */
const MONGO_OPCODES: ReadonlySet<number> = new Set([2013, 2004, 2012]);
const STARTTLS_SERVER = cased(['220', '+OK', '* OK', '* PREAUTH', ':', 'NOTICE']);
const H2_PREFACE_TEXT = H2_PREFACE.toString('latin1');

/**
 * The bytes inside an in-band tunnel, detected afresh by a multiplexer of their own (Zeek's PIA
 * below the HTTP analyzer after a CONNECT). Never listed itself: its confirmed protocols are.
 */
class Redetect implements StreamAnalyzer {
  readonly name = 'tunnel';
  readonly state = 'confirmed' as const;
  readonly violations = 0;
  constructor(readonly inner: AnalyzerMux) {}
  get issues(): readonly AnalyzerIssue[] {
    return this.inner.issues;
  }
  get partial(): boolean {
    return this.inner.partial;
  }
  data(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    this.inner.data(isOrig, buf, off, len, ts);
  }
  gap(isOrig: boolean, len: number): void {
    this.inner.gap(isOrig, len);
  }
  endOfDirection(isOrig: boolean, ts: number): void {
    this.inner.endOfDirection(isOrig, ts);
  }
  end(ts: number): void {
    this.inner.end(ts);
  }
}

const TLS_FACTORY = (): AnalyzerFactory => DEFAULT_FACTORIES.find((f) => f.name === 'tls')!;

/**
 * A DNS header the DNS analyzer would not reject while probing: opcode in use (0, 1, 2, 4, 5) and,
 * for a query, rcode 0 (`h` is the header's offset; bytes not yet seen pass). Keeps the analyzer,
 * and over TCP its buffering of a bogus length prefix, off every HTTP and TLS connection.
 */
const dnsHeader = (b: Buffer, h: number, end: number): boolean => {
  if (h + 2 >= end) return true;
  const op = (b[h + 2] >> 3) & 0x0f;
  if (op > 5 || op === 3) return false;
  return h + 3 >= end || (b[h + 2] & 0x80) !== 0 || (b[h + 3] & 0x0f) === 0;
};

export const DEFAULT_FACTORIES: readonly AnalyzerFactory[] = [
  {
    name: 'dns',
    transports: ['udp', 'tcp'],
    // Over TCP a 2-byte length prefix (at least a header) comes first; over UDP a whole message,
    // judged as the analyzer judges its header while probing (VXLAN's header reads as a query
    // whose counts do not fit: a third of the bench capture's flows carry VXLAN). Without the
    // transport, accept what either reading allows.
    accepts: (_i, b, o, n, t) =>
      t === 'udp'
        ? n >= 12 && plausibleHeader(b, o, n)
        : n < 2 || (b.readUInt16BE(o) >= 12 && dnsHeader(b, o + 2, o + n)) || (n >= 12 && dnsHeader(b, o, o + n)),
    create: (o) => new DnsAnalyzer(o),
  },
  {
    name: 'http',
    transports: ['tcp'],
    accepts: (isOrig, b, o, n) => (isOrig ? upperThenSpace(b, o, n) : prefix(b, o, n, 'HTTP/')),
    create: (o) => new HttpAnalyzer(o),
    // Zeek's HTTP ports (base/protocols/http/main.zeek).
    ports: [80, 81, 631, 1080, 3128, 8000, 8080, 8888],
  },
  {
    name: 'http2',
    transports: ['tcp'],
    // The client preface, or the server's SETTINGS frame when the server speaks first.
    accepts: (isOrig, b, o, n) => (isOrig ? prefix(b, o, n, H2_PREFACE_TEXT) : n < 4 || b[o + 3] === 4),
    create: (o) => new Http2Analyzer(o),
  },
  {
    // A long header (form and fixed bits set) of a version whose Initial packets can be decrypted.
    name: 'quic',
    transports: ['udp'],
    accepts: (_i, b, o, n) => (b[o] & 0xc0) === 0xc0 && (n < 5 || isKnownVersion(b.readUInt32BE(o + 1))),
    create: (o) => new QuicAnalyzer(o),
  },
  { name: 'tls', transports: ['tcp'], accepts: (_i, b, o, n) => b[o] === 22 && (n < 2 || b[o + 1] === 3), create: (o) => new TlsAnalyzer(o) },
  {
    // A DTLS handshake record, or STUN first (WebRTC multiplexes STUN, DTLS and SRTP on one flow, RFC 7983).
    name: 'dtls',
    transports: ['udp'],
    accepts: (_i, b, o, n) => isStun(b, o, n) || (b[o] === 22 && (n < 2 || b[o + 1] === 0xfe)),
    create: (o) => new TlsAnalyzer(o, { dtls: true }),
  },
  // The server usually speaks first in SSH, possibly with other lines before its banner.
  { name: 'ssh', transports: ['tcp'], accepts: (isOrig, b, o, n) => !isOrig || prefix(b, o, n, 'SSH-'), create: (o) => new SshAnalyzer(o) },
  { name: 'redis', transports: ['tcp'], accepts: (isOrig, b, o) => isOrig && b[o] === 0x2a, create: (o) => new RedisAnalyzer(o) },
  {
    name: 'postgresql',
    transports: ['tcp'],
    accepts: (isOrig, b, o, n) => isOrig && (n < 4 || (b.readUInt32BE(o) >= 8 && b.readUInt32BE(o) <= 10000)),
    create: (o) => new PostgresAnalyzer(o),
  },
  {
    name: 'mysql',
    transports: ['tcp'],
    accepts: (isOrig, b, o, n) => !isOrig && (n < 5 || (b[o + 3] === 0 && b[o + 4] === 10)),
    create: (o) => new MysqlAnalyzer(o),
  },
  {
    // SMTP, IMAP, POP3, FTP, XMPP, IRC, LDAP and RDP, followed as far as their upgrade to TLS.
    name: 'starttls',
    transports: ['tcp'],
    accepts: (isOrig, b, o, n) =>
      isOrig ? b[o] === 0x30 || (b[o] === 0x03 && (n < 2 || b[o + 1] === 0)) || anyPrefixCI(b, o, n, STARTTLS_CLIENT) : anyPrefixCI(b, o, n, STARTTLS_SERVER),
    create: (o) => new StartTlsAnalyzer(o),
  },
  {
    name: 'kafka',
    transports: ['tcp'],
    accepts: (isOrig, b, o, n) => isOrig && (n < 6 || (b[o] === 0 && b.readInt16BE(o + 4) >= 0)),
    create: (o) => new KafkaAnalyzer(o),
  },
  {
    name: 'mongodb',
    transports: ['tcp'],
    accepts: (isOrig, b, o, n) => isOrig && (n < 16 || MONGO_OPCODES.has(b.readInt32LE(o + 12))),
    create: (o) => new MongoAnalyzer(o),
  },
  // Zeek attaches these by port only (no DPD signature): base/protocols/ntp and dhcp register 123 and 67/68.
  { name: 'ntp', transports: ['udp'], ports: [NTP_PORT], portsOnly: true, create: (o) => new NtpAnalyzer(o) },
  { name: 'dhcp', transports: ['udp'], ports: DHCP_PORTS, portsOnly: true, create: (o) => new DhcpAnalyzer(o) },
  // base/protocols/syslog registers Syslog_TCP for 514/tcp (conn.log: syslog_tcp); `--analyzers syslog`.
  { name: 'syslog', transports: ['tcp'], ports: [SYSLOG_TCP_PORT], portsOnly: true, create: (o) => new SyslogTcpAnalyzer(o) },
  // base/protocols/rdp registers RDPEUDP for 3389/udp.
  { name: 'rdpeudp', transports: ['udp'], ports: [RDPEUDP_PORT], portsOnly: true, create: (o) => new RdpeudpAnalyzer(o) },
];

/**
 * Analyzers Zeek has but attaches only where a script registers them for a port: never run unless
 * chosen by name (`analyze --analyzers gnutella`), as Zeek runs them only when told to.
 */
export const OPTIONAL_FACTORIES: readonly AnalyzerFactory[] = [
  { name: 'gnutella', transports: ['tcp'], ports: [GNUTELLA_PORT], portsOnly: true, create: (o) => new GnutellaAnalyzer(o) },
];

const DEFAULT_CANDIDATES: Record<AppTransport, readonly AnalyzerFactory[]> = {
  tcp: DEFAULT_FACTORIES.filter((f) => f.transports.includes('tcp')),
  udp: DEFAULT_FACTORIES.filter((f) => f.transports.includes('udp')),
};

export interface MuxOptions {
  factories?: readonly AnalyzerFactory[];
  maxBufferBytes?: number;
  /** Bytes per direction after which, with nothing confirmed, detection gives up; default 16 KiB. */
  maxProbeBytes?: number;
  /** Receives ssh and datastore (`app`) records; without it they are dropped (the services still count). */
  onIdentify?: (rec: IdentRecord) => void;
  /** The connection's responder port, for the analyzers Zeek attaches by port (`AnalyzerFactory.ports`). */
  respPort?: number;
  /** Zeek's `dns_max_queries` (see AnalyzerOptions). */
  dnsMaxQueries?: number;
  /**
   * A TCP connection seen without its SYN: Zeek's HTTP and SSL analyzers return at once on such a
   * (partial) connection, so they never confirm there (wikipedia.pcap, mpls-in-vlan.pcap); its
   * Spicy analyzers (LDAP, Redis) still parse.
   */
  midStream?: boolean;
  /**
   * Run every analyzer on connections seen without their SYN too (`midStream` ignored): a capture
   * started after its connections opened (tcpdump in a pod) keeps its HTTP and TLS records, which
   * Zeek would not write. Off by default, for Zeek's records.
   */
  analyzePartial?: boolean;
  /** The plaintext protocols the STARTTLS analyzer may confirm (see AnalyzerOptions); default all. */
  startTlsProtocols?: ReadonlySet<string>;
  /** Zeek's Gnutella::max_line_length and max_header_length (see AnalyzerOptions). */
  gnutellaMaxLineLength?: number;
  gnutellaMaxHeaderLength?: number;
  /** Receives the connections this one announces (FTP data channels, IRC DCC); see AnalyzerOptions. */
  announce?: (c: AnnouncedConnection) => void;
  /**
   * Zeek's DPD::track_removed_services_in_connection: a protocol removed for a violation stays in
   * `service`, followed by its name with a leading '-' (`ftp,-ftp`); default off, as Zeek's.
   */
  trackRemovedServices?: boolean;
}

/** The protocols the STARTTLS analyzer follows, by the name `selectAnalyzers` takes, with the service name it confirms. */
const STARTTLS_PROTOCOLS: Readonly<Record<string, string>> = {
  smtp: 'smtp',
  imap: 'imap',
  pop3: 'pop3',
  ftp: 'ftp',
  xmpp: 'xmpp',
  irc: 'irc',
  ldap: 'ldap_tcp',
  rdp: 'rdp',
};

/** Every name `selectAnalyzers` accepts: the analyzers' own, with STARTTLS's protocols one by one. */
export const ANALYZER_NAMES: readonly string[] = [
  ...DEFAULT_FACTORIES.map((f) => f.name).filter((n) => n !== 'starttls'),
  ...Object.keys(STARTTLS_PROTOCOLS),
  ...OPTIONAL_FACTORIES.map((f) => f.name),
];

/**
 * The analyzers to run, by name (`analyze --analyzers dns,http`), as Zeek runs only the analyzers
 * whose scripts it loaded (`zeek -b base/protocols/dns`): a protocol left out is neither detected
 * nor logged, and never in `service`. TLS found inside another protocol (STARTTLS, QUIC, HTTP
 * CONNECT) is still followed: that hand-over belongs to the outer analyzer, as in Zeek. Throws on
 * an unknown name, naming it and the names known.
 */
export function selectAnalyzers(names: readonly string[]): Pick<MuxOptions, 'factories' | 'startTlsProtocols'> {
  for (const n of names) {
    if (!ANALYZER_NAMES.includes(n)) throw new Error(`unknown analyzer "${n}" (known: ${ANALYZER_NAMES.join(', ')})`);
  }
  const startTls = new Set(names.filter((n) => n in STARTTLS_PROTOCOLS).map((n) => STARTTLS_PROTOCOLS[n]));
  const factories = [...DEFAULT_FACTORIES, ...OPTIONAL_FACTORIES].filter((f) => (f.name === 'starttls' ? startTls.size > 0 : names.includes(f.name)));
  return { factories, startTlsProtocols: startTls };
}

/**
 * Zeek's DPD::ignore_violations_after: a protocol violation within this many bytes of the
 * connection (both directions) removes the analyzer and its service; later ones are ignored.
 */
export const IGNORE_VIOLATIONS_AFTER = 10 * 1024;

/** The candidates for a transport, computed once per factory list rather than per connection. */
const candidates = new WeakMap<readonly AnalyzerFactory[], Record<AppTransport, readonly AnalyzerFactory[]>>();
function candidatesFor(fs: readonly AnalyzerFactory[], transport: AppTransport): readonly AnalyzerFactory[] {
  if (fs === DEFAULT_FACTORIES) return DEFAULT_CANDIDATES[transport];
  let c = candidates.get(fs);
  if (c === undefined) {
    c = { tcp: fs.filter((f) => f.transports.includes('tcp')), udp: fs.filter((f) => f.transports.includes('udp')) };
    candidates.set(fs, c);
  }
  return c[transport];
}

/** A candidate may confirm and fail within the same bytes: it confirmed all the same. */
const won = (a: StreamAnalyzer): boolean => a.state === 'confirmed' || a.state === 'failed';

/** Whether Zeek lists the analyzer's protocol in `service`: it confirmed, as Zeek confirms it. */
/**
 * Where conn.log's `service` names a protocol otherwise than our analyzer is called: Zeek's TLS
 * analyzer and scripts are "ssl" (`smtp,ssl`, `quic,ssl`), while `--analyzers` and the app records
 * say tls as ECS does.
 */
const ZEEK_SERVICE: Readonly<Record<string, string>> = { tls: 'ssl' };

const listed = (a: StreamAnalyzer): boolean => won(a) && a.zeekConfirmed !== false;

/**
 * Whether the last `data` call brought a protocol violation, as Zeek's DPD sees one: a counted
 * violation, or a failure on the protocol's own terms (not a memory bound, a gap or our own fault).
 */
function violatedSince(a: StreamAnalyzer, violationsBefore: number, failedBefore: boolean): boolean {
  if (a.violations > violationsBefore) return true;
  if (failedBefore || a.state !== 'failed') return false;
  const last = a.issues[a.issues.length - 1];
  return last !== undefined && last.kind === 'failure' && last.code !== 'gap' && last.code !== 'internal';
}

/** Our analyzers whose Zeek counterparts parse nothing on a connection seen without its SYN. */
const SKIPS_PARTIAL: ReadonlySet<string> = new Set(['http', 'tls']);

/** Shared by every mux until it has candidates; never written to. */
const NO_ANALYZERS: readonly StreamAnalyzer[] = Object.freeze([]);
const NO_SERVICES: readonly string[] = Object.freeze([]);
const SINGLE = new Map<string, readonly string[]>();
/** `[name]`, one frozen list per name. */
function single(name: string): readonly string[] {
  let s = SINGLE.get(name);
  if (s === undefined) {
    s = Object.freeze([name]);
    SINGLE.set(name, s);
  }
  return s;
}

/** What a rejected candidate leaves behind: its name and why (analyzers themselves are released). */
interface Rejection {
  name: string;
  issues: readonly AnalyzerIssue[];
}

/** What a multiplexer does with a candidate on its connection's first payload. */
enum Take {
  SKIP = 0,
  CREATE = 1,
  /** Attached by port: it refused these bytes, and waits for the other direction's first ones. */
  DEFER = 2,
}

function firstTake(
  f: AnalyzerFactory,
  transport: AppTransport,
  respPort: number,
  midStream: boolean,
  isOrig: boolean,
  buf: Buffer,
  off: number,
  len: number,
): Take {
  if (f.portsOnly === true && !f.ports?.includes(respPort)) return Take.SKIP;
  if (midStream && SKIPS_PARTIAL.has(f.name)) return Take.SKIP;
  if (f.accepts === undefined || f.accepts(isOrig, buf, off, len, transport)) return Take.CREATE;
  return f.ports?.includes(respPort) ? Take.DEFER : Take.SKIP;
}

/**
 * Whether a multiplexer made with these options (`factories`, `respPort`, `midStream` as in
 * MuxOptions, the port -1 for none) would analyse anything of a connection whose first
 * payload this is: a candidate that accepts it, or one attached by port that waits for the other
 * direction. When not, nothing on the connection is ever analysed, and the owner need not make
 * the multiplexer (tunnel carriers: every VXLAN outer flow carries payload no analyzer takes).
 */
export function startsOn(
  transport: AppTransport,
  factories: readonly AnalyzerFactory[] | undefined,
  respPort: number,
  midStream: boolean,
  isOrig: boolean,
  buf: Buffer,
  off: number,
  len: number,
): boolean {
  // start() waits for a usable payload: so must the owner.
  if (len <= 0 || off < 0 || off + len > buf.length) return true;
  for (const f of candidatesFor(factories ?? DEFAULT_FACTORIES, transport)) {
    if (firstTake(f, transport, respPort, midStream, isOrig, buf, off, len) !== Take.SKIP) return true;
  }
  return false;
}

/** Whether every analyzer of the list is finished (StreamAnalyzer.finished). */
function allFinished(list: readonly StreamAnalyzer[]): boolean {
  for (let i = 0; i < list.length; i++) if (list[i].finished !== true) return false;
  return true;
}

export class AnalyzerMux {
  private live: StreamAnalyzer[] = NO_ANALYZERS as StreamAnalyzer[];
  /**
   * The analyzers that confirmed (the winner, and its successor after a protocol switch): kept
   * for `issues` and `services`. Candidates that lost are dropped at once, with their buffers;
   * a connection lives much longer than its detection.
   */
  private all: readonly StreamAnalyzer[] = NO_ANALYZERS;
  /** Why candidates were rejected, kept only while nothing has confirmed (explains an empty `service`). */
  private rejections: Rejection[] | null = null;
  /** Candidates, constructed on the first payload only (most connections never carry any). */
  private factories: readonly AnalyzerFactory[] | null;
  private readonly aopts: AnalyzerOptions;
  private readonly maxProbe: number;
  private probedOrig = 0;
  private probedResp = 0;
  private decided = false;
  /** Port-attached candidates that refused the first payload, waiting for the other direction's (null: none). */
  private deferred: AnalyzerFactory[] | null = null;
  private deferredDir = false;
  private readonly respPort: number;
  private readonly midStream: boolean;
  /**
   * Port-attached analyzers started after another one had already won (Zeek runs an analyzer it
   * attached by port alongside the one its signatures found: HTTP on port 80 next to TLS).
   */
  private sidecars: StreamAnalyzer[] = NO_ANALYZERS as StreamAnalyzer[];
  /** Analyzers removed for a protocol violation early in the connection (Zeek's DPD): no longer a service. */
  private removed: StreamAnalyzer[] | null = null;
  /** Stream bytes of both directions so far (Zeek's c$orig$size + c$resp$size). */
  private bytes = 0;
  /** An analyzer hit one of its limits (kept when that analyzer is dropped). */
  private partialSeen = false;
  private readonly trackRemoved: boolean;
  /** As given: a tunnel's nested multiplexer is built from them. */
  private readonly opts: MuxOptions;
  private readonly sink: (rec: AppRecord) => void;
  private readonly onIdentify: ((rec: IdentRecord) => void) | undefined;

  /**
   * The connection's own options (`respPort`, `midStream`, `onIdentify`, `announce`) may come as
   * arguments instead of in `opts`: the owner of one multiplexer per connection then passes its
   * shared options as they are, rather than a copy of them per connection.
   */
  constructor(
    transport: AppTransport,
    sink: (rec: AppRecord) => void,
    opts: MuxOptions = {},
    respPort: number = opts.respPort ?? -1,
    midStream: boolean = opts.midStream === true,
    onIdentify: ((rec: IdentRecord) => void) | undefined = opts.onIdentify,
    announce: ((c: AnnouncedConnection) => void) | undefined = opts.announce,
  ) {
    this.sink = sink;
    this.opts = opts;
    this.onIdentify = onIdentify;
    this.aopts = {
      transport,
      // One function for both kinds of record takes either: no routing, no closure per connection.
      sink: (onIdentify as unknown) === sink ? (sink as (rec: AnyAppRecord) => void) : (rec) => this.route(rec),
      maxBufferBytes: opts.maxBufferBytes,
      dnsMaxQueries: opts.dnsMaxQueries,
      startTlsProtocols: opts.startTlsProtocols,
      gnutellaMaxLineLength: opts.gnutellaMaxLineLength,
      gnutellaMaxHeaderLength: opts.gnutellaMaxHeaderLength,
      announce,
    };
    this.trackRemoved = opts.trackRemovedServices === true;
    this.factories = candidatesFor(opts.factories ?? DEFAULT_FACTORIES, transport);
    this.maxProbe = opts.maxProbeBytes ?? 16 * 1024;
    this.respPort = respPort;
    this.midStream = midStream;
  }

  /** dns/http/http2/tls records go to `sink`, identification records to `onIdentify`. */
  private route(rec: AnyAppRecord): void {
    if (rec.kind === 'ssh' || rec.kind === 'app') this.onIdentify?.(rec);
    else this.sink(rec);
  }

  /** Confirmed protocols (kept after a later failure, as Zeek keeps them in `service`), as Zeek names them. */
  get services(): readonly string[] {
    if (this.sidecars.length === 0) {
      if (this.all.length === 0) return NO_SERVICES;
      // The usual case, one analyzer and its protocol alone: a shared list, nothing made.
      const a = this.all[0];
      if (this.all.length === 1 && this.removed === null && !(a instanceof Redetect) && a.leadingServices === undefined && a.innerServices === undefined) {
        return listed(a) ? single(ZEEK_SERVICE[a.name] ?? a.name) : NO_SERVICES;
      }
    }
    const out: string[] = [];
    const add = (a: StreamAnalyzer): void => {
      if (a instanceof Redetect) {
        for (const inner of a.inner.services) if (!out.includes(inner)) out.push(inner);
        return;
      }
      const name = ZEEK_SERVICE[a.name] ?? a.name;
      if (!listed(a) || out.includes(name)) return;
      if (this.removed?.includes(a)) {
        if (this.trackRemoved) out.push(name, `-${name}`);
        return;
      }
      for (const lead of a.leadingServices ?? []) if (!out.includes(lead)) out.push(lead);
      out.push(name);
      for (const inner of a.innerServices ?? []) if (!out.includes(inner)) out.push(inner);
    };
    for (const a of this.all) add(a);
    for (const a of this.sidecars) add(a);
    return out;
  }

  /** Whether an analyzer stopped short at one of its protocol's limits (Zeek's history `X`). */
  get partial(): boolean {
    return this.partialSeen;
  }

  /** The analyzer that confirmed, if any. */
  get confirmed(): StreamAnalyzer | null {
    return this.all.find((a) => a.state === 'confirmed' || a.state === 'failed') ?? null;
  }

  /** Issues of the confirmed analyzers (or, when none confirmed, the candidates' rejections), prefixed with the analyzer name. */
  get issues(): (AnalyzerIssue & { analyzer: string })[] {
    const out: (AnalyzerIssue & { analyzer: string })[] = [];
    for (const r of this.rejections ?? []) for (const i of r.issues) out.push({ ...i, analyzer: r.name });
    for (const a of this.all) {
      if (a instanceof Redetect) out.push(...a.inner.issues);
      else for (const i of a.issues) out.push({ ...i, analyzer: a.name });
    }
    return out;
  }

  /**
   * Both streams having ended, nothing more can be logged: every analyzer it holds is finished
   * (see StreamAnalyzer.finished), so `end` would write nothing.
   */
  get finished(): boolean {
    return allFinished(this.live) && allFinished(this.all) && allFinished(this.sidecars);
  }

  /** Nothing more will be analysed on this connection. */
  get done(): boolean {
    return this.factories === null && this.live.length === 0 && this.deferred === null && this.sidecars.length === 0;
  }

  data(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    if (this.factories !== null) this.start(isOrig, buf, off, len);
    else if (this.deferred !== null && isOrig !== this.deferredDir) this.startDeferred(isOrig, buf, off, len);
    this.bytes += len;
    if (this.sidecars.length > 0) this.feedSidecars(isOrig, buf, off, len, ts);
    if (this.live.length === 0) return;
    // The analyzer that already won: watched for violations (a winner of this call is watched from 0).
    const watched = this.decided ? this.live[0] : null;
    const vBefore = watched === null ? 0 : watched.violations;
    const failedBefore = watched !== null && watched.state === 'failed';
    // Indexed loops on the per-connection paths: for...of made an iterator object per call there.
    const live = this.live;
    for (let i = 0; i < live.length; i++) {
      const a = live[i];
      a.data(isOrig, buf, off, len, ts);
      if (a.partial) this.partialSeen = true;
    }
    if (!this.decided) {
      if (isOrig) this.probedOrig += len;
      else this.probedResp += len;
      const probed = isOrig ? this.probedOrig : this.probedResp;
      this.settle(probed >= this.maxProbe);
    }
    if (this.decided) {
      const a = this.live[0];
      if (violatedSince(a, vBefore, failedBefore) && this.bytes <= IGNORE_VIOLATIONS_AFTER) {
        this.remove(a);
        return;
      }
      if (a.takeSwitch !== undefined) {
        const sw = a.takeSwitch();
        if (sw !== null) this.switchTo(sw, ts);
      }
      // A successor may still be probing (TLS after STARTTLS, until its ClientHello).
      const st = this.live[0].state;
      if (st !== 'confirmed' && st !== 'probing') this.live = [];
    }
  }

  /** Zeek's DPD on a violation: the analyzer is disabled and its protocol leaves `service`. */
  private remove(a: StreamAnalyzer): void {
    this.removed ??= [];
    this.removed.push(a);
    this.live = this.live.filter((x) => x !== a);
    this.sidecars = this.sidecars.filter((x) => x !== a);
  }

  private feedSidecars(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    for (const a of this.sidecars.slice()) {
      const vBefore = a.violations;
      const failedBefore = a.state === 'failed';
      a.data(isOrig, buf, off, len, ts);
      if (a.partial) this.partialSeen = true;
      if (won(a) && violatedSince(a, vBefore, failedBefore) && this.bytes <= IGNORE_VIOLATIONS_AFTER) this.remove(a);
      else if (a.state === 'rejected') this.sidecars = this.sidecars.filter((x) => x !== a);
    }
  }

  /** Hands the connection to the successor, replaying the bytes that followed the switch point. */
  private switchTo(sw: ProtocolSwitch, ts: number): void {
    const next = this.successor(sw);
    this.all = [...this.all, next];
    this.live = [next];
    // h2c: the server's 101 and preface come first; TLS and a tunnel: the client's bytes (a ClientHello).
    const first = sw.protocol !== 'http2';
    if (first && sw.orig !== null) next.data(true, sw.orig, 0, sw.orig.length, ts);
    if (sw.resp !== null) next.data(false, sw.resp, 0, sw.resp.length, ts);
    if (!first && sw.orig !== null) next.data(true, sw.orig, 0, sw.orig.length, ts);
  }

  /** The successor of an in-band protocol switch. */
  private successor(sw: ProtocolSwitch): StreamAnalyzer {
    if (sw.protocol === 'http2') return new Http2Analyzer(this.aopts, { upgrade: { request: sw.request } });
    if (sw.protocol === 'tls') return new TlsAnalyzer(this.aopts);
    // TLS through a proxy is followed even where --analyzers left TLS out (see selectAnalyzers).
    const fs = this.opts.factories ?? DEFAULT_FACTORIES;
    const factories = fs.some((f) => f.name === 'tls') ? fs : [...fs, TLS_FACTORY()];
    // Zeek attaches by port at the connection's start only: nothing in the tunnel is port-attached.
    return new Redetect(
      new AnalyzerMux('tcp', this.sink, {
        ...this.opts,
        onIdentify: this.onIdentify,
        announce: this.aopts.announce,
        factories,
        respPort: -1,
        midStream: false,
        analyzePartial: false,
      }),
    );
  }

  private start(isOrig: boolean, buf: Buffer, off: number, len: number): void {
    const fs = this.factories!;
    if (len <= 0 || off < 0 || off + len > buf.length) return;
    this.factories = null;
    const transport = this.aopts.transport;
    // Usually one candidate takes the first bytes: no array until a second one does.
    let first: StreamAnalyzer | null = null;
    let more: StreamAnalyzer[] | null = null;
    for (const f of fs) {
      const t = firstTake(f, transport, this.respPort, this.midStream, isOrig, buf, off, len);
      if (t === Take.SKIP) continue;
      if (t === Take.DEFER) {
        this.deferred ??= [];
        this.deferred.push(f);
        this.deferredDir = isOrig;
        continue;
      }
      const a = f.create(this.aopts);
      if (first === null) first = a;
      else {
        more ??= [first];
        more.push(a);
      }
    }
    // Exact-size copies: these arrays live as long as the connection.
    this.live = more !== null ? more.slice() : first !== null ? [first] : [];
  }

  /**
   * The other direction's first payload: the port-attached candidates that accept it join the
   * detection, or, when another analyzer already won, run alongside it.
   */
  private startDeferred(isOrig: boolean, buf: Buffer, off: number, len: number): void {
    const fs = this.deferred!;
    this.deferred = null;
    if (len <= 0) return;
    for (const f of fs) {
      if (f.accepts !== undefined && !f.accepts(isOrig, buf, off, len, this.aopts.transport)) continue;
      if (!this.decided) this.live.push(f.create(this.aopts));
      else if (!this.all.some((a) => a.name === f.name)) this.sidecars = [...this.sidecars, f.create(this.aopts)];
    }
  }

  gap(isOrig: boolean, len: number): void {
    // A gap before any payload: nothing can be detected from a stream that starts mid-way.
    this.factories = null;
    this.deferred = null;
    this.bytes += len;
    for (const a of this.live) a.gap(isOrig, len);
    for (const a of this.sidecars) a.gap(isOrig, len);
    this.settle(false);
  }

  /** One direction's stream is complete (its FIN reached in order): for the analyzers whose messages end there. */
  endOfDirection(isOrig: boolean, ts: number): void {
    const live = this.live;
    for (let i = 0; i < live.length; i++) live[i].endOfDirection?.(isOrig, ts);
    const sidecars = this.sidecars;
    for (let i = 0; i < sidecars.length; i++) sidecars[i].endOfDirection?.(isOrig, ts);
  }

  end(ts: number): void {
    const all = this.all;
    for (let i = 0; i < all.length; i++) all[i].end(ts);
    const sidecars = this.sidecars;
    for (let i = 0; i < sidecars.length; i++) sidecars[i].end(ts);
    // Candidates still probing may have something to say at the end (a lone SSH client banner).
    const live = this.live;
    for (let i = 0; i < live.length; i++) if (!all.includes(live[i])) live[i].end(ts);
    this.live = [];
  }

  private settle(giveUp: boolean): void {
    if (this.decided || this.live.length === 0) return;
    const winner = this.live.find(won);
    if (winner !== undefined) {
      this.decided = true;
      // Others confirming on the same bytes count as services too (Zeek lists every confirmed analyzer).
      // Once decided, `live` is only ever replaced, never changed in place: the two may share an array.
      if (this.live.length === 1) this.all = this.live;
      else {
        this.all = this.live.filter(won);
        this.live = [winner];
      }
      this.rejections = null;
      return;
    }
    let keep = 0;
    for (const a of this.live) {
      if (a.state === 'probing') this.live[keep++] = a;
      else {
        this.rejections ??= [];
        this.rejections.push({ name: a.name, issues: a.issues });
      }
    }
    this.live.length = giveUp ? 0 : keep;
  }
}
