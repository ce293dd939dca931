/**
 * Application-layer records, shaped like Zeek's dns.log / http.log / ssl.log with Zeek's field
 * names. They carry no uid or 5-tuple: the connection tracker that owns the analyzer adds those
 * when it writes them. `null` is Zeek's unset field ('-').
 */
import type { ConnK8s } from './k8s';

export interface DnsResourceRecord {
  section: 'answer' | 'authority' | 'additional';
  name: string;
  type: number;
  type_name: string;
  class: number;
  ttl: number;
  /** Zeek's rendering: address, lowercased target name, 'TXT <len> <text>', 'RRSIG 48 example.com'..., or
   *  '<unknown type=N>'; '' for a type Zeek logs no answer for (WKS and the silent ones). */
  data: string;
  rdlength: number;
  /** A type Zeek parses but whose scripts log nothing in `answers` (HINFO, OPT, SVCB, HTTPS, TKEY, TSIG, CAA). */
  silent?: true;
  mx?: { preference: number; exchange: string };
  srv?: { priority: number; weight: number; port: number; target: string };
  soa?: { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number };
  txt?: string[];
}

export interface DnsLogRecord {
  kind: 'dns';
  /** Time of the request, or of the response when no request was seen. */
  ts: number;
  proto: 'udp' | 'tcp';
  trans_id: number;
  /** Response time minus request time, seconds; null without both. */
  rtt: number | null;
  query: string | null;
  qclass: number | null;
  qclass_name: string | null;
  qtype: number | null;
  qtype_name: string | null;
  rcode: number | null;
  rcode_name: string | null;
  AA: boolean;
  TC: boolean;
  RD: boolean;
  RA: boolean;
  Z: number;
  /** Answer-section data in Zeek's rendering (null when none), with their TTLs in seconds. */
  answers: string[] | null;
  TTLs: number[] | null;
  rejected: boolean;
  opcode: number;
  opcode_name: string;
  /** Every resource record of the response (answer, authority, additional), typed. */
  rrs: DnsResourceRecord[];
}

export interface HttpLogRecord {
  kind: 'http';
  /** Time the request began (or the response, for a response without request). */
  ts: number;
  /** 1-based position of this request/response pair on the connection. */
  trans_depth: number;
  method: string | null;
  host: string | null;
  uri: string | null;
  referrer: string | null;
  /** HTTP version ('1.1'): the response's when there was one, as Zeek logs it; else the request's. */
  version: string | null;
  user_agent: string | null;
  origin: string | null;
  request_body_len: number;
  response_body_len: number;
  status_code: number | null;
  status_msg: string | null;
  /** Last 1xx interim response (e.g. 100 Continue). */
  info_code: number | null;
  info_msg: string | null;
  /** Content-Type headers (Zeek's mime types come from file analysis, which we do not do). */
  orig_content_type: string | null;
  resp_content_type: string | null;
  /** Upgrade requested (request header) and whether the server switched (101). */
  upgrade: string | null;
  upgraded: boolean;
  /** User of a Basic Authorization (or Proxy-Authorization) header; Zeek logs no password by default. */
  username: string | null;
  /** Proxy headers of the request as Zeek logs them: 'X-FORWARDED-FOR -> 10.0.0.1'. */
  proxied: string[] | null;
  /** Content-Disposition file names of the request's and the response's bodies. */
  orig_filenames: string[] | null;
  resp_filenames: string[] | null;
}

/** An http record with nothing seen yet: the analyzer and Hubble's L7 events fill it in. */
export function newHttpRecord(ts: number, depth: number): HttpLogRecord {
  return {
    kind: 'http',
    ts,
    trans_depth: depth,
    method: null,
    host: null,
    uri: null,
    referrer: null,
    version: null,
    user_agent: null,
    origin: null,
    request_body_len: 0,
    response_body_len: 0,
    status_code: null,
    status_msg: null,
    info_code: null,
    info_msg: null,
    orig_content_type: null,
    resp_content_type: null,
    upgrade: null,
    upgraded: false,
    username: null,
    proxied: null,
    orig_filenames: null,
    resp_filenames: null,
  };
}

export interface TlsLogRecord {
  kind: 'tls';
  ts: number;
  /** Negotiated version name ('TLSv12', 'TLSv13' as Zeek writes them). */
  version: string | null;
  /** Chosen cipher suite name when known, else 'unknown-<hex>'. */
  cipher: string | null;
  cipher_id: number | null;
  /** Key exchange group ('x25519', 'secp256r1'): ECDHE ServerKeyExchange or the TLS 1.3 key_share. */
  curve: string | null;
  server_name: string | null;
  /** Description of the last cleartext alert ('handshake_failure'). */
  last_alert: string | null;
  next_protocol: string | null;
  established: boolean;
  resumed: boolean;
  /** Zeek's ssl_history: one letter per cleartext handshake message / CCS / alert, upper case from the client. */
  ssl_history: string | null;
  /** SHA-256 of each certificate's DER, server and client chains; null until either side sent one. */
  cert_chain_fps: string[] | null;
  client_cert_chain_fps: string[] | null;
  /** The SNI is a name of the server's certificate (SAN dNSName or CN, wildcards for one label); null without both. */
  sni_matches_cert: boolean | null;
  client_version: number | null;
  client_supported_versions: number[];
  client_ciphers: number[];
  client_alpn: string[];
  ja3: string | null;
  ja3_string: string | null;
  ja3s: string | null;
  ja3s_string: string | null;
  ja4: string | null;
  /** Certificate chain as sent (TLS <= 1.2 only: later versions encrypt it). */
  certificates: TlsCertificate[];
  subject: string | null;
  issuer: string | null;
}

export interface TlsCertificate {
  subject: string;
  issuer: string;
  /** Seconds since the epoch. */
  not_valid_before: number | null;
  not_valid_after: number | null;
  serial: string;
}

export interface SshLogRecord {
  kind: 'ssh';
  ts: number;
  /** Protocol major version from the banners (2 for 'SSH-2.0' and 'SSH-1.99'). */
  version: number | null;
  /** Identification lines as sent ('SSH-2.0-OpenSSH_9.6'), without the line end, as Zeek logs them. */
  client: string | null;
  server: string | null;
}

/**
 * One HTTP/2 stream (a request and its response), named after http.log where Zeek has the field;
 * gRPC calls (content-type application/grpc*) also carry the service and method split from the
 * path and the grpc-status and grpc-message of the trailers.
 */
export interface Http2LogRecord {
  kind: 'http2';
  /** Time of the stream's first HEADERS frame (of the HTTP/1.1 request, for an h2c upgrade). */
  ts: number;
  stream_id: number;
  /** :method, :authority (else host), :path, :scheme. */
  method: string | null;
  host: string | null;
  uri: string | null;
  scheme: string | null;
  referrer: string | null;
  user_agent: string | null;
  /** DATA frame payload bytes without padding, per direction. */
  request_body_len: number;
  response_body_len: number;
  /** Final :status, and the last 1xx before it. */
  status_code: number | null;
  info_code: number | null;
  orig_content_type: string | null;
  resp_content_type: string | null;
  grpc_service: string | null;
  grpc_method: string | null;
  grpc_status: number | null;
  /** grpc-message, percent-decoded. */
  grpc_message: string | null;
  /** Pushed by the server (PUSH_PROMISE), not requested. */
  push: boolean;
  /** Stream 1 of an h2c upgrade: its request was the HTTP/1.1 one. */
  upgraded: boolean;
  /** Error code name of the RST_STREAM that ended the stream ('CANCEL'), if one did. */
  reset: string | null;
}

export type DatastoreProtocol = 'redis' | 'postgresql' | 'mysql' | 'kafka' | 'mongodb';

/** The generic record of an identified datastore protocol, with its few key fields (null: not seen). */
export interface AppIdRecord {
  kind: 'app';
  ts: number;
  protocol: DatastoreProtocol;
  /** PostgreSQL startup user / MySQL handshake user. */
  user: string | null;
  /** PostgreSQL database / MongoDB $db. */
  database: string | null;
  /** PostgreSQL application_name. */
  application_name: string | null;
  /** MySQL server greeting version. */
  server_version: string | null;
  /** Kafka client id. */
  client_id: string | null;
  /** First commands (Redis command names, MongoDB command names, Kafka 'api_key/api_version'), at most 8. */
  commands: string[];
  /** PostgreSQL SSLRequest / MySQL SSL request: the session continued in TLS (accepted), or was refused. */
  tls_requested: boolean;
  tls_accepted: boolean;
}

/** The records with a log of their own (dns.log, http.log, ssl.log as Zeek names them; http2.log). */
export type AppRecord = DnsLogRecord | HttpLogRecord | TlsLogRecord | Http2LogRecord;
/** Identification records: ssh and the generic `app` record of the datastores. */
export type IdentRecord = SshLogRecord | AppIdRecord;
/** Everything an analyzer may emit. */
export type AnyAppRecord = AppRecord | IdentRecord;

/** The connection an application record belongs to, as the tracker hands it to payload analysis. */
export interface ConnInfo {
  uid: string;
  proto: 'tcp' | 'udp' | 'icmp' | 'unknown_transport';
  orig_h: string;
  orig_p: number;
  resp_h: string;
  resp_p: number;
  /** First packet, seconds since the epoch. */
  ts: number;
}

/** An application record tied to its connection. */
export type AppRecordOut = AnyAppRecord & { uid: string; conn: ConnInfo };

export type AppKind = AnyAppRecord['kind'];

/** An application record with the uid of the connection that carried it (AppRecordOut fits). */
export type AppInput = AnyAppRecord & { uid: string };

/**
 * The connection an application record came with: the record itself once the engine has joined
 * them, or what a flow source says about it (Hubble L7 DNS events carry no connection record).
 */
export interface ConnContext {
  uid: string;
  ts: number;
  orig_h: string;
  resp_h: string;
  resp_p: number;
  k8s?: ConnK8s;
}
