/**
 * The plaintext protocols that upgrade to TLS in-band, read just far enough to hand the stream to
 * the TLS analyzer when the server accepts the upgrade, as Zeek's SMTP, IMAP, POP3, FTP, XMPP,
 * IRC, LDAP and RDP analyzers do: SMTP `STARTTLS` / 220 (RFC 3207), IMAP `<tag> STARTTLS` /
 * `<tag> OK` (RFC 3501 6.2.1), POP3 `STLS` / `+OK` (RFC 2595 4), FTP `AUTH TLS|SSL` / 234
 * (RFC 4217 4), XMPP `<starttls/>` / `<proceed/>` (RFC 6120 5.4), IRC `STARTTLS` / numeric 670
 * (IRCv3 tls), LDAP ExtendedRequest 1.3.6.1.4.1.1466.20037 / success (RFC 4511 4.14), RDP
 * X.224 Connection Request / Confirm selecting TLS or CredSSP ([MS-RDPBCGR] 2.2.1.2).
 *
 * The protocol is recognised from the first exchange (the server's greeting, the client's first
 * command, the first LDAP message) whatever the port, and named as Zeek names the service
 * (smtp, imap, pop3, ftp, xmpp, irc, ldap_tcp, rdp). Lines are parsed in place; the analyzer stops
 * reading after MAX_LINES lines (or LDAP messages) per direction without an upgrade, so a long
 * session costs nothing more. It emits no record of its own: the TLS analyzer that follows does.
 */
import { type AnalyzerOptions, BaseAnalyzer, StreamBuffer } from './analyzer';
import { formatAddress, parseAddress } from '../record/address';

export type StartTlsProtocol = 'smtp' | 'imap' | 'pop3' | 'ftp' | 'xmpp' | 'irc' | 'ldap_tcp' | 'rdp';

/** Lines (or LDAP messages) read per direction before giving up on an upgrade. */
const MAX_LINES = 64;
/** Longest line waited for (SMTP allows 512 bytes for a command, 998 for text lines). */
const MAX_LINE = 2048;
/** Longest LDAP message waited for. */
const MAX_LDAP = 16 * 1024;
/** FTP commands waiting for their reply, at most (Zeek's FTP::max_pending_commands). */
const MAX_PENDING_FTP = 20;
/** The LDAP StartTLS extended operation (RFC 4511 4.14.1). */
const LDAP_STARTTLS_OID = '1.3.6.1.4.1.1466.20037';

enum Family {
  UNKNOWN,
  /** A 220 greeting: SMTP or FTP, told apart by the client's first command. */
  SMTP_OR_FTP,
  SMTP,
  FTP,
  IMAP,
  POP3,
  XMPP,
  IRC,
  LDAP,
  /** The capture starts at a client's STARTTLS: the answer tells SMTP (220) from IRC (670). */
  SMTP_OR_IRC,
  /** RDP's X.224 connection request; TLS (or CredSSP over TLS) follows a confirm selecting it. */
  RDP,
}

const FAMILY_NAMES: Record<Family, StartTlsProtocol | null> = {
  [Family.UNKNOWN]: null,
  [Family.SMTP_OR_FTP]: null,
  [Family.SMTP]: 'smtp',
  [Family.FTP]: 'ftp',
  [Family.IMAP]: 'imap',
  [Family.POP3]: 'pop3',
  [Family.XMPP]: 'xmpp',
  [Family.IRC]: 'irc',
  [Family.LDAP]: 'ldap_tcp',
  [Family.SMTP_OR_IRC]: null,
  [Family.RDP]: 'rdp',
};

/** ASCII upper-case prefix test on buf[a, b). */
function startsWithCI(buf: Buffer, a: number, b: number, word: string): boolean {
  if (b - a < word.length) return false;
  for (let i = 0; i < word.length; i++) {
    let c = buf[a + i];
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    if (c !== word.charCodeAt(i)) return false;
  }
  return true;
}

/** The line buf[a, b) is `word` alone, or `word` followed by a space (case-insensitive). */
function isCommand(buf: Buffer, a: number, b: number, word: string): boolean {
  return startsWithCI(buf, a, b, word) && (b - a === word.length || buf[a + word.length] === 0x20);
}

function indexOfAscii(buf: Buffer, a: number, b: number, needle: string): number {
  const i = buf.indexOf(needle, a, 'latin1');
  return i >= 0 && i + needle.length <= b ? i : -1;
}

export class StartTlsAnalyzer extends BaseAnalyzer {
  private family = Family.UNKNOWN;
  private readonly streams: [StreamBuffer, StreamBuffer];
  private readonly lines = [0, 0];
  /** The client asked for the upgrade; for IMAP, with this tag. */
  private asked = false;
  private imapTag = '';
  /** Client bytes that followed its upgrade request before the server answered (pipelined ClientHello). */
  private early: Buffer | null = null;
  private curTs = 0;
  private done = false;
  /** LDAP messages parsed so far (both directions). */
  private ldapMessages = 0;
  /** Protocols found inside LDAP SASL binds: in the first message (Zeek confirms them before LDAP), and later. */
  private leading: string[] | null = null;
  private inner: string[] | null = null;

  constructor(private readonly opts: AnalyzerOptions) {
    super(opts);
    this.streams = [
      new StreamBuffer(MAX_LDAP + 16, (b, o, e) => this.unit(false, b, o, e)),
      new StreamBuffer(MAX_LDAP + 16, (b, o, e) => this.unit(true, b, o, e)),
    ];
  }

  get name(): string {
    return FAMILY_NAMES[this.family] ?? 'starttls';
  }

  get leadingServices(): readonly string[] {
    return this.leading ?? NO_SERVICES;
  }

  get innerServices(): readonly string[] {
    return this.inner ?? NO_SERVICES;
  }

  protected onData(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    if (this.done) return;
    this.curTs = ts;
    if (this.family === Family.UNKNOWN && !this.firstBytes(isOrig, buf, off, off + len)) return;
    if (isOrig && this.asked) {
      // Upgrade requested: what the client sends before the answer is the start of TLS (kept, bounded).
      this.keepEarly(buf, off, off + len);
      return;
    }
    if (!this.streams[isOrig ? 1 : 0].feed(buf, off, len)) this.stop(isOrig, 'starttls-line', 'line beyond the bound');
  }

  /** Decides the family from the first bytes of a direction, before any buffering. */
  private firstBytes(isOrig: boolean, buf: Buffer, off: number, end: number): boolean {
    if (buf[off] === 0x30 && isOrig) {
      this.family = Family.LDAP;
      return true;
    }
    if (buf[off] === 0x03 && isOrig) {
      // TPKT version 3 (RFC 1006): RDP's connection request.
      this.family = Family.RDP;
      return true;
    }
    // Text protocols: the first bytes are printable ASCII.
    for (let i = off; i < end && i < off + 16; i++) {
      const c = buf[i];
      if ((c < 0x20 || c > 0x7e) && c !== 0x0d && c !== 0x0a && c !== 0x09) {
        this.reject('starttls-binary', 'not a text protocol', isOrig, this.curTs);
        return false;
      }
    }
    return true;
  }

  protected override onGap(isOrig: boolean, len: number): void {
    if (this.state === 'probing') super.onGap(isOrig, len);
    else this.done = true;
  }

  /** The code of the FTP multi-line reply under way (null: none). */
  private ftpContinues: string | null = null;

  private keepEarly(buf: Buffer, a: number, b: number): void {
    if (b <= a) return;
    const have = this.early?.length ?? 0;
    if (have + b - a > MAX_LDAP) {
      this.done = true;
      return;
    }
    this.early = have === 0 ? Buffer.from(buf.subarray(a, b)) : Buffer.concat([this.early!, buf.subarray(a, b)]);
  }

  private stop(isOrig: boolean, code: string, message: string): void {
    if (this.state === 'probing') this.reject(code, message, isOrig, this.curTs);
    this.done = true;
  }

  /** One line (text protocols) or one BER message (LDAP) of a direction; returns its length. */
  private unit(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    if (this.done || !this.active) return -1;
    const d = isOrig ? 1 : 0;
    if (this.lines[d]++ >= MAX_LINES && !this.announcing()) {
      this.done = true;
      return -1;
    }
    if (this.family === Family.LDAP) return this.ldap(isOrig, buf, off, end);
    if (this.family === Family.RDP) return this.rdp(isOrig, buf, off, end);
    // XMPP is read a tag at a time ('>' ends one), the others a line at a time.
    const xml = this.family === Family.XMPP || (this.family === Family.UNKNOWN && buf[off] === 0x3c);
    const nl = buf.indexOf(xml ? 0x3e : 0x0a, off);
    if (nl < 0 || nl >= end) {
      this.lines[d]--;
      if (end - off > MAX_LINE) this.stop(isOrig, 'starttls-line', 'line longer than the bound');
      return this.done ? -1 : 0;
    }
    const next = nl + 1;
    let e = nl;
    if (!xml && e > off && buf[e - 1] === 0x0d) e--;
    return this.line(isOrig, buf, off, e, next, end) ? next - off : -1;
  }

  /** Handles one line; false stops parsing (rejected, or handed over to TLS). */
  private line(isOrig: boolean, buf: Buffer, a: number, b: number, next: number, end: number): boolean {
    if (this.state === 'probing' && !this.recognise(isOrig, buf, a, b)) {
      if (this.active) this.reject('starttls-unknown', 'no known plaintext protocol', isOrig, this.curTs);
      return false;
    }
    if (this.family === Family.IRC && this.opts.announce !== undefined) this.ircDcc(buf, a, b);
    if (isOrig) {
      if (this.family === Family.FTP && this.opts.announce !== undefined) this.ftpCommand(buf, a, b);
      if (!this.asked && this.asksUpgrade(buf, a, b)) {
        this.asked = true;
        this.keepEarly(buf, next, end);
        return false;
      }
      return true;
    }
    if (this.family === Family.FTP && !this.ftpReply(buf, a, b)) {
      this.violation('ftp-reply', 'not an FTP reply line (3-digit code 100-599, then space or hyphen)', isOrig, this.curTs);
      return this.active;
    }
    if (this.asked && this.accepts(buf, a, b)) {
      this.startTls(false, buf, next, end, this.early);
      this.done = true;
      return false;
    }
    if (this.asked && this.refuses(buf, a, b)) {
      this.asked = false;
      this.early = null;
    }
    return true;
  }

  /**
   * Whether a server line is a valid FTP reply (RFC 959 4.2): a code 100-599 then a space, or a
   * hyphen opening a multi-line reply whose lines are free text up to `<code> `. Zeek reports a
   * protocol violation on anything else.
   */
  private ftpReply(buf: Buffer, a: number, b: number): boolean {
    const head = buf.toString('latin1', a, Math.min(b, a + 4));
    if (this.ftpContinues !== null) {
      if (head === `${this.ftpContinues} `) this.ftpContinues = null;
      return true;
    }
    const m = /^(\d\d\d)([ -])/.exec(head);
    if (m === null) return false;
    const code = Number(m[1]);
    if (code < 100 || code > 599) return false;
    if (m[2] === '-') this.ftpContinues = m[1];
    // The first line of a reply: the one Zeek reads the passive data channel from.
    if (this.opts.announce !== undefined) this.ftpFirstReplyLine(code, buf, a + 4, b);
    return true;
  }

  /** Whether lines are read past MAX_LINES: FTP and IRC announce data connections all session long. */
  private announcing(): boolean {
    return this.opts.announce !== undefined && (this.family === Family.FTP || this.family === Family.IRC);
  }

  /** FTP commands sent and not yet answered (upper-cased names), oldest first. */
  private ftpPending: string[] = [];

  /**
   * A client command: PORT and EPRT announce the data connection the server will open to the
   * address given (Zeek's ftp_request in base/protocols/ftp/main.zeek); PASV and EPSV wait for
   * the reply that names the address.
   */
  private ftpCommand(buf: Buffer, a: number, b: number): void {
    const sp = buf.indexOf(0x20, a);
    const end = sp >= 0 && sp < b ? sp : b;
    const cmd = buf.toString('latin1', a, end).toUpperCase();
    const arg = end < b ? buf.toString('latin1', end + 1, b).trim() : '';
    if (this.ftpPending.length < MAX_PENDING_FTP) this.ftpPending.push(cmd);
    if (cmd !== 'PORT' && cmd !== 'EPRT') return;
    const at = cmd === 'PORT' ? parseFtpPort(arg) : parseFtpEprt(arg);
    if (at !== null) this.opts.announce?.({ opener: 'resp', resp_h: at.h, resp_p: at.p, service: 'ftp-data', ts: this.curTs });
  }

  /** The first line of a server reply: 227 / 229 to PASV or EPSV names where the client will connect. */
  private ftpFirstReplyLine(code: number, buf: Buffer, a: number, b: number): void {
    // A preliminary reply (1xx) leaves its command waiting for the final one.
    if (code < 200) return;
    let cmd: string | undefined;
    if (code === 227 || code === 229) {
      const i = this.ftpPending.findIndex((c) => c === 'PASV' || c === 'EPSV');
      if (i >= 0) cmd = this.ftpPending.splice(i, 1)[0];
    } else this.ftpPending.shift();
    if (cmd === undefined) return;
    const msg = a < b ? buf.toString('latin1', a, b) : '';
    const at = code === 227 ? parseFtpPasv(msg) : parseFtpEpsv(msg);
    // 229 without a host (the usual `(|||port|)`): the server's own address.
    if (at !== null) this.opts.announce?.({ opener: 'orig', resp_h: at.h, resp_p: at.p, service: 'ftp-data', ts: this.curTs });
  }

  /**
   * `PRIVMSG <target> :\x01DCC SEND <file> <ip> <port> [<size>]\x01`, either direction: the offerer
   * waits on ip:port for anyone (Zeek's irc_dcc_message and base/protocols/irc/dcc-send.zeek; the
   * address is the decimal IPv4 number, as Zeek reads it; other DCC types announce nothing).
   */
  private ircDcc(buf: Buffer, a: number, b: number): void {
    const at = indexOfAscii(buf, a, b, ' :\x01DCC ');
    if (at < 0) return;
    const head = buf.toString('latin1', a, at);
    if (!/(^|\s)PRIVMSG\s+\S+$/i.test(head)) return;
    let text = buf.toString('latin1', at + 7, b);
    if (text.endsWith('\x01')) text = text.slice(0, -1);
    const parts = text.split(' ').filter((w) => w !== '');
    if (parts.length < 4 || parts.length > 5 || parts[0].toUpperCase() !== 'SEND') return;
    if (!/^\d{1,10}$/.test(parts[2]) || !/^\d{1,5}$/.test(parts[3])) return;
    const ip = Number(parts[2]);
    const port = Number(parts[3]);
    if (ip > 0xffffffff || port > 65535) return;
    const h = `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
    this.opts.announce?.({ opener: null, resp_h: h, resp_p: port, service: 'irc-dcc-data', ts: this.curTs });
  }

  /** The family from the first lines; confirms once it is certain. */
  private recognise(isOrig: boolean, buf: Buffer, a: number, b: number): boolean {
    switch (this.family) {
      case Family.UNKNOWN:
        if (!isOrig) {
          if (/^220[ -]/.test(buf.toString('latin1', a, Math.min(b, a + 4)))) this.family = Family.SMTP_OR_FTP;
          else if (startsWithCI(buf, a, b, '+OK')) this.confirmAs(Family.POP3);
          else if (startsWithCI(buf, a, b, '* OK') || startsWithCI(buf, a, b, '* PREAUTH')) this.confirmAs(Family.IMAP);
          else if (buf[a] === 0x3a || startsWithCI(buf, a, b, 'NOTICE ')) this.confirmAs(Family.IRC);
          else return false;
          return true;
        }
        if (startsWithCI(buf, a, b, '<?XML') || startsWithCI(buf, a, b, '<STREAM:STREAM')) this.confirmAs(Family.XMPP);
        else if (isCommand(buf, a, b, 'NICK') || isCommand(buf, a, b, 'CAP') || isCommand(buf, a, b, 'PASS')) this.confirmAs(Family.IRC);
        else if (isCommand(buf, a, b, 'STARTTLS')) this.family = Family.SMTP_OR_IRC;
        else return false;
        return true;
      case Family.SMTP_OR_IRC: {
        if (isOrig) return false;
        const sp = buf.indexOf(0x20, a);
        if (startsWithCI(buf, a, b, '220 ')) this.confirmAs(Family.SMTP);
        else if (buf[a] === 0x3a && sp >= 0 && sp < b && (startsWithCI(buf, sp + 1, b, '670 ') || startsWithCI(buf, sp + 1, b, '691 ')))
          this.confirmAs(Family.IRC);
        else return false;
        return true;
      }
      case Family.SMTP_OR_FTP:
        if (!isOrig) return /^\d\d\d([ -]|$)/.test(buf.toString('latin1', a, Math.min(b, a + 4)));
        if (isCommand(buf, a, b, 'EHLO') || isCommand(buf, a, b, 'HELO')) this.confirmAs(Family.SMTP);
        else if (['USER', 'AUTH', 'FEAT', 'SYST', 'OPTS', 'PASS'].some((w) => isCommand(buf, a, b, w))) this.confirmAs(Family.FTP);
        else return false;
        return true;
      default:
        return true;
    }
  }

  /** A protocol left out of the analyzers chosen (`analyze --analyzers`) is not this analyzer's to confirm. */
  protected override confirm(): void {
    const name = FAMILY_NAMES[this.family];
    const allowed = this.opts.startTlsProtocols;
    if (allowed !== undefined && name !== null && !allowed.has(name)) {
      this.reject('starttls-disabled', `${name} analysis not enabled`, true, this.curTs);
      this.done = true;
      return;
    }
    super.confirm();
  }

  private confirmAs(f: Family): void {
    this.family = f;
    this.confirm();
  }

  private asksUpgrade(buf: Buffer, a: number, b: number): boolean {
    switch (this.family) {
      case Family.SMTP:
      case Family.IRC:
      case Family.SMTP_OR_IRC:
        return isCommand(buf, a, b, 'STARTTLS');
      case Family.POP3:
        return isCommand(buf, a, b, 'STLS');
      case Family.FTP:
        return isCommand(buf, a, b, 'AUTH') && (startsWithCI(buf, a + 5, b, 'TLS') || startsWithCI(buf, a + 5, b, 'SSL'));
      case Family.IMAP: {
        const sp = buf.indexOf(0x20, a);
        if (sp < 0 || sp >= b || !isCommand(buf, sp + 1, b, 'STARTTLS')) return false;
        this.imapTag = buf.toString('latin1', a, sp);
        return true;
      }
      case Family.XMPP:
        return indexOfAscii(buf, a, b, '<starttls') >= 0;
      default:
        return false;
    }
  }

  private accepts(buf: Buffer, a: number, b: number): boolean {
    switch (this.family) {
      case Family.SMTP:
        return startsWithCI(buf, a, b, '220 ');
      case Family.FTP:
        return startsWithCI(buf, a, b, '234');
      case Family.POP3:
        return startsWithCI(buf, a, b, '+OK');
      case Family.IMAP:
        return startsWithCI(buf, a, b, `${this.imapTag.toUpperCase()} OK`);
      case Family.XMPP:
        return indexOfAscii(buf, a, b, '<proceed') >= 0;
      case Family.IRC: {
        // ':server 670 nick :STARTTLS successful'
        const sp = buf.indexOf(0x20, a);
        return sp >= 0 && sp < b && startsWithCI(buf, sp + 1, b, '670 ');
      }
      default:
        return false;
    }
  }

  private refuses(buf: Buffer, a: number, b: number): boolean {
    switch (this.family) {
      case Family.SMTP:
      case Family.FTP:
        return /^[45]\d\d /.test(buf.toString('latin1', a, Math.min(b, a + 4)));
      case Family.POP3:
        return startsWithCI(buf, a, b, '-ERR');
      case Family.IMAP:
        return startsWithCI(buf, a, b, `${this.imapTag.toUpperCase()} NO`) || startsWithCI(buf, a, b, `${this.imapTag.toUpperCase()} BAD`);
      case Family.XMPP:
        return indexOfAscii(buf, a, b, '<failure') >= 0;
      case Family.IRC: {
        const sp = buf.indexOf(0x20, a);
        return sp >= 0 && sp < b && startsWithCI(buf, sp + 1, b, '691 ');
      }
      default:
        return false;
    }
  }

  // ------------------------------------------------------------ RDP ([MS-RDPBCGR] 2.2.1.1, 2.2.1.2)

  /** One TPKT: X.224 Connection Request from the client, Connection Confirm with RDP_NEG_RSP from the server. */
  private rdp(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    if (end - off < 4) {
      this.lines[isOrig ? 1 : 0]--;
      return 0;
    }
    const len = buf.readUInt16BE(off + 2);
    if (buf[off] !== 3 || buf[off + 1] !== 0 || len < 7 || len > MAX_LDAP) return this.ldapBad(isOrig);
    if (end - off < len) {
      this.lines[isOrig ? 1 : 0]--;
      return 0;
    }
    const code = buf[off + 5] & 0xf0;
    if (isOrig && code === 0xe0 && !this.asked) {
      this.confirm();
      this.asked = true;
      return len;
    }
    if (!isOrig && code === 0xd0 && this.asked) {
      // RDP_NEG_RSP (type 2) in the last 8 bytes: selectedProtocol 1 (TLS), 2 (CredSSP), 8 (CredSSP early auth) run over TLS.
      const t = off + len - 8;
      const selected = len >= 19 && buf[t] === 2 ? buf.readUInt32LE(t + 4) : 0;
      if (selected === 1 || selected === 2 || selected === 8) {
        this.startTls(false, buf, off + len, end, this.early);
        this.done = true;
        return -1;
      }
      this.done = true;
      return -1;
    }
    if (this.state === 'probing') return this.ldapBad(isOrig);
    return len;
  }

  // ------------------------------------------------------------ LDAP (BER, RFC 4511 4.1.1)

  /** One LDAPMessage: SEQUENCE { messageID INTEGER, protocolOp [APPLICATION n], ... }. */
  private ldap(isOrig: boolean, buf: Buffer, off: number, end: number): number {
    const h = berHeader(buf, off, end);
    if (h === null) {
      this.lines[isOrig ? 1 : 0]--;
      return end - off >= 6 ? this.ldapBad(isOrig) : 0;
    }
    if (buf[off] !== 0x30 || h.len > MAX_LDAP) return this.ldapBad(isOrig);
    const total = h.body - off + h.len;
    if (end - off < total) {
      this.lines[isOrig ? 1 : 0]--;
      return 0;
    }
    const mEnd = off + total;
    const id = berHeader(buf, h.body, mEnd);
    if (id === null || buf[h.body] !== 0x02 || id.len < 1 || id.len > 4) return this.ldapBad(isOrig);
    const opAt = id.body + id.len;
    const op = berHeader(buf, opAt, mEnd);
    // protocolOp: an APPLICATION-class tag (0x40..0x7f).
    if (op === null || (buf[opAt] & 0xc0) !== 0x40) return this.ldapBad(isOrig);
    if (this.state === 'probing') this.confirmAs(Family.LDAP);
    const tag = buf[opAt] & 0x1f;
    this.ldapMessages++;
    if (isOrig && tag === 0) {
      const found = saslBindServices(buf, op.body, Math.min(op.body + op.len, mEnd));
      if (found.length > 0) {
        const first = this.ldapMessages === 1;
        for (const s of found) {
          if (this.leading?.includes(s) || this.inner?.includes(s)) continue;
          if (first) {
            this.leading ??= [];
            this.leading.push(s);
          } else {
            this.inner ??= [];
            this.inner.push(s);
          }
        }
      }
    } else if (isOrig && tag === 23) {
      // ExtendedRequest: [0] requestName LDAPOID.
      const name = berHeader(buf, op.body, mEnd);
      if (name !== null && buf[op.body] === 0x80 && buf.toString('latin1', name.body, name.body + name.len) === LDAP_STARTTLS_OID) {
        this.asked = true;
        this.keepEarly(buf, mEnd, end);
        return -1;
      }
    } else if (!isOrig && tag === 24 && this.asked) {
      // ExtendedResponse: resultCode ENUMERATED first; 0 is success.
      const rc = berHeader(buf, op.body, mEnd);
      if (rc !== null && buf[op.body] === 0x0a && rc.len === 1) {
        if (buf[rc.body] === 0) {
          this.startTls(false, buf, mEnd, end, this.early);
          this.done = true;
          return -1;
        }
        this.asked = false;
        this.early = null;
      }
    }
    return total;
  }

  private ldapBad(isOrig: boolean): number {
    // After confirmation the session may have gone on in a SASL security layer: stop reading.
    this.stop(isOrig, 'ldap-ber', 'not an LDAP message');
    return -1;
  }
}

const NO_SERVICES: readonly string[] = [];
const NTLM: readonly string[] = ['ntlm'];
/** Zeek's GSSAPI analyzer hands the token inside to NTLM or KRB, which confirm before it does. */
const GSSAPI_NTLM: readonly string[] = ['ntlm', 'gssapi'];
const GSSAPI_KRB: readonly string[] = ['krb', 'gssapi'];

/** DER bodies of the OIDs a SASL bind's GSS-API token names. */
const OID_SPNEGO = Buffer.from([0x2b, 0x06, 0x01, 0x05, 0x05, 0x02]); // 1.3.6.1.5.5.2
const OID_KRB5 = Buffer.from([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02]); // 1.2.840.113554.1.2.2
const OID_MS_KRB5 = Buffer.from([0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02]); // 1.2.840.48018.1.2.2
const NTLMSSP = Buffer.from('NTLMSSP\0', 'latin1');

/**
 * The protocols Zeek's LDAP analyzer finds in a BindRequest's SASL credentials (RFC 4511 4.2:
 * version, name, authentication [3] SaslCredentials { mechanism, credentials }), in the order
 * they confirm: raw NTLMSSP goes to NTLM (sasl-ntlm.pcap: ntlm); a GSS-API token to GSSAPI,
 * which passes a Kerberos AP-REQ to KRB or an NTLMSSP message to NTLM, directly (mechanism
 * GSSAPI) or inside SPNEGO's negTokenInit mechToken (GSS-SPNEGO, as Active Directory binds).
 */
function saslBindServices(buf: Buffer, p: number, end: number): readonly string[] {
  const version = berHeader(buf, p, end);
  if (version === null || buf[p] !== 0x02) return NO_SERVICES;
  const nameAt = version.body + version.len;
  const name = berHeader(buf, nameAt, end);
  if (name === null || buf[nameAt] !== 0x04) return NO_SERVICES;
  const authAt = name.body + name.len;
  const auth = berHeader(buf, authAt, end);
  if (auth === null || buf[authAt] !== 0xa3) return NO_SERVICES;
  const authEnd = Math.min(auth.body + auth.len, end);
  const mech = berHeader(buf, auth.body, authEnd);
  if (mech === null || buf[auth.body] !== 0x04) return NO_SERVICES;
  const credAt = mech.body + mech.len;
  const cred = berHeader(buf, credAt, authEnd);
  if (cred === null || buf[credAt] !== 0x04) return NO_SERVICES;
  const c = cred.body;
  const cEnd = Math.min(c + cred.len, authEnd);
  if (isNtlmssp(buf, c, cEnd)) return NTLM;
  return gssToken(buf, c, cEnd);
}

function isNtlmssp(buf: Buffer, p: number, end: number): boolean {
  // Signature, then the message type: negotiate (1), challenge (2) or authenticate (3).
  if (end - p < 12 || buf.compare(NTLMSSP, 0, 8, p, p + 8) !== 0) return false;
  const type = buf.readUInt32LE(p + 8);
  return type >= 1 && type <= 3;
}

function oidIs(buf: Buffer, p: number, end: number, oid: Buffer): boolean {
  const h = berHeader(buf, p, end);
  return h !== null && buf[p] === 0x06 && h.len === oid.length && h.body + h.len <= end && buf.compare(oid, 0, oid.length, h.body, h.body + h.len) === 0;
}

/** An InitialContextToken (RFC 2743 3.1: [APPLICATION 0] { thisMech OID, innerToken }) at buf[p]. */
function gssToken(buf: Buffer, p: number, end: number): readonly string[] {
  const t = berHeader(buf, p, end);
  if (t === null || buf[p] !== 0x60) return NO_SERVICES;
  const oidAt = t.body;
  const oid = berHeader(buf, oidAt, end);
  if (oid === null) return NO_SERVICES;
  const inner = oid.body + oid.len;
  if (oidIs(buf, oidAt, end, OID_KRB5) || oidIs(buf, oidAt, end, OID_MS_KRB5)) {
    // RFC 4121 4.1: TOK_ID 01 00, then the AP-REQ ([APPLICATION 14]).
    return inner + 3 <= end && buf[inner] === 0x01 && buf[inner + 1] === 0x00 && buf[inner + 2] === 0x6e ? GSSAPI_KRB : NO_SERVICES;
  }
  if (!oidIs(buf, oidAt, end, OID_SPNEGO)) return NO_SERVICES;
  // RFC 4178 4.2.1: [0] NegTokenInit SEQUENCE { mechTypes [0], reqFlags [1], mechToken [2] OCTET STRING, ... }.
  const init = berHeader(buf, inner, end);
  if (init === null || buf[inner] !== 0xa0) return NO_SERVICES;
  const seq = berHeader(buf, init.body, end);
  if (seq === null || buf[init.body] !== 0x30) return NO_SERVICES;
  const seqEnd = Math.min(seq.body + seq.len, end);
  for (let q = seq.body; q < seqEnd; ) {
    const f = berHeader(buf, q, seqEnd);
    if (f === null) break;
    if (buf[q] === 0xa2) {
      const tok = berHeader(buf, f.body, seqEnd);
      if (tok === null || buf[f.body] !== 0x04) break;
      const tEnd = Math.min(tok.body + tok.len, seqEnd);
      if (isNtlmssp(buf, tok.body, tEnd)) return GSSAPI_NTLM;
      return gssToken(buf, tok.body, tEnd);
    }
    q = f.body + f.len;
  }
  return NO_SERVICES;
}

/** An address and port an FTP command or reply names. */
interface FtpHostPort {
  /** null: the connection's server (a 229 reply gives no host). */
  h: string | null;
  p: number;
}

/** `h1,h2,h3,h4,p1,p2` (RFC 959 PORT and the 227 reply), each 0-255. */
function hostPortList(s: string): FtpHostPort | null {
  const m = /^\s*(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})/.exec(s);
  if (m === null) return null;
  const n = m.slice(1).map(Number);
  if (n.some((x) => x > 255)) return null;
  return { h: `${n[0]}.${n[1]}.${n[2]}.${n[3]}`, p: n[4] * 256 + n[5] };
}

export function parseFtpPort(arg: string): FtpHostPort | null {
  return hostPortList(arg);
}

/**
 * The 227 reply's text (after the code): the list after '(', else after the word PORT, else the
 * digits before the first comma (as Zeek's parse_ftp_pasv looks for it).
 */
export function parseFtpPasv(msg: string): FtpHostPort | null {
  let i = msg.indexOf('(');
  if (i >= 0) return hostPortList(msg.slice(i + 1));
  i = msg.indexOf('PORT');
  if (i >= 0) return hostPortList(msg.slice(i + 5));
  i = msg.indexOf(',');
  if (i < 0) return null;
  while (i > 0 && msg[i - 1] >= '0' && msg[i - 1] <= '9') i--;
  return hostPortList(msg.slice(i));
}

/** `<d><proto><d><addr><d><port><d>` (RFC 2428), the delimiter being the first character. */
function extendedHostPort(s: string, needHost: boolean): FtpHostPort | null {
  const d = s[0];
  if (d === undefined || d < '!' || d > '~') return null;
  const f = s.split(d);
  if (f.length < 5) return null;
  const port = /^\d{1,5}$/.test(f[3]) ? Number(f[3]) : -1;
  if (port < 0 || port > 65535) return null;
  if (f[2] === '') return needHost ? null : { h: null, p: port };
  const bytes = parseAddress(f[2]);
  if (bytes === null) return null;
  return { h: formatAddress(bytes, 0, bytes.length), p: port };
}

export function parseFtpEprt(arg: string): FtpHostPort | null {
  return extendedHostPort(arg.trim(), true);
}

/** The 229 reply's text: `... (|||port|)`. */
export function parseFtpEpsv(msg: string): FtpHostPort | null {
  const i = msg.indexOf('(');
  return i < 0 ? null : extendedHostPort(msg.slice(i + 1), false);
}

/** A BER tag and definite length at buf[p]: the body offset and length, or null when incomplete or unsupported. */
function berHeader(buf: Buffer, p: number, end: number): { body: number; len: number } | null {
  if (p + 2 > end) return null;
  let len = buf[p + 1];
  let q = p + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || q + n > end) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[q + i];
    q += n;
  }
  return { body: q, len };
}
