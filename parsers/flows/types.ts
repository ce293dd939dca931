/**
 * Flow-log ingestion: the formats we read, the per-line errors we report and the summary of a
 * parse. Every format becomes the same ConnRecord (parsers/record/conn.ts).
 */
import type { StitchOptions } from '../netflow/stitch';
import type { AppRecordOut } from '../record/app';
import type { LocalNets } from '../record/local-nets';

/**
 * `zeek-tsv`: Zeek ASCII conn.log with `#fields`. `zeek-json`: Zeek's JSON writer (`id.orig_h`).
 * `aws-vpc`: AWS VPC Flow Logs text (default v2 or a custom field list named by a header line).
 * `hubble`: `hubble observe -o json` (flow events, folded into connections).
 * `ndjson`: our own ConnRecord, as `eastwatch analyze --format ndjson` writes it.
 */
export type FlowFormat = 'zeek-tsv' | 'zeek-json' | 'aws-vpc' | 'hubble' | 'ndjson';
export const FLOW_FORMATS: readonly FlowFormat[] = ['zeek-tsv', 'zeek-json', 'aws-vpc', 'hubble', 'ndjson'];

/** One rejected input line (or JSON array element); the parse goes on with the next one. */
export interface FlowLineError {
  source: string;
  /** 1-based line number where the offending line (or array element) starts; 0 for input-level errors. */
  line: number;
  /** Field at fault, when one is. */
  field?: string;
  reason: string;
  /** `source: line 17: dstport: "abc" is not a port` */
  message: string;
}

/** Cilium's monitor aggregation levels; all but 'none' report a connection's packets selectively. */
export type MonitorAggregation = 'none' | 'low' | 'medium' | 'maximum';
export const MONITOR_AGGREGATIONS: readonly MonitorAggregation[] = ['none', 'low', 'medium', 'maximum'];

export interface HubbleFoldOptions {
  /** Inactivity timeouts, seconds of event time (Zeek's defaults: 300 / 60 / 60). */
  tcpTimeout?: number;
  udpTimeout?: number;
  icmpTimeout?: number;
  /** Live connections cap; beyond it the least recently active one is emitted early (default 1e6). */
  maxConnections?: number;
  /**
   * Cilium's monitor aggregation level on the nodes the flows come from (Helm
   * `bpf.monitorAggregation`, agent `--monitor-aggregation`). 'medium' (Cilium's default, and
   * ours: Hubble events do not say) and the other aggregating levels mark every connection
   * `counts: 'reports'`; 'none' says every event is a packet.
   */
  monitorAggregation?: MonitorAggregation;
}

export interface FlowParseOptions {
  /** Named format; sniffed from the first non-empty line(s) when absent. */
  format?: FlowFormat;
  /** Name of the input in messages (file name, request id). */
  source: string;
  /** Longest accepted line (or JSON array element), bytes; default 1 MiB. Longer ones are rejected, not buffered. */
  maxLineBytes?: number;
  /**
   * A body that is one JSON delivery (an AWS Firehose HTTP endpoint request, a CloudWatch Logs
   * subscription payload) sent as one line may be this long (bytes) rather than maxLineBytes;
   * each record line inside it is still at most maxLineBytes. Default: no such exception.
   */
  maxDocumentBytes?: number;
  /** Networks for local_orig/local_resp when the source does not say; default DEFAULT_LOCAL_NETS. */
  localNets?: LocalNets;
  /** Community ID seed (default 0). */
  communityIdSeed?: number;
  hubble?: HubbleFoldOptions;
  /**
   * AWS VPC flow logs: pairing of the two directions' records into one connection (default on,
   * holding a record for 660 s of event time, a 10-minute aggregation window and a minute more, and
   * at most 4096 records, about 5 MB: AWS writes an interface's two directions close together);
   * false: every record is emitted alone, marked one-way. Pairs are made within one parse.
   */
  stitch?: StitchOptions | false;
  /**
   * AWS VPC / Transit Gateway flow logs without a header line (CloudWatch Logs and Firehose
   * deliveries): the flow log's fields, as parseVpcFields reads them (`${version} ${account-id} ...`
   * or `version,account-id,...`). Implies the aws-vpc format when none is named.
   */
  vpcFields?: readonly string[];
  /**
   * Each line (or array element) after the format's parser took it, with the format: lets a
   * caller read what the parser folds away (Hubble's L7 DNS events) without splitting the input twice.
   */
  onLine?: (text: string, format: FlowFormat) => void;
  /** The format once it is known (named, or sniffed from the first line), before that line's records are emitted. */
  onFormat?: (format: FlowFormat) => void;
  /**
   * Application records a format carries beside its connections (Hubble's L7 HTTP events as http
   * records), each with its connection's uid and ConnInfo, given right after that connection.
   * Without it they are not collected.
   */
  onApp?: (r: AppRecordOut) => void;
}

export interface FlowParseSummary {
  source: string;
  /** The format used (named or sniffed); null when the input held nothing to sniff. */
  format: FlowFormat | null;
  /** Input lines seen (JSON array input: lines spanned). */
  lines: number;
  bytes: number;
  records: number;
  errors: number;
  /** Hubble: flow events read (folded into `records` connections). */
  events: number;
  /** AWS VPC NODATA / SKIPDATA records, skipped. */
  noData: number;
  skipData: number;
  /** Lines deliberately ignored: Zeek `#` headers, VPC header lines, Hubble non-flow events (agent/debug events, lost events). */
  ignored: number;
}

/**
 * A field-level rejection, thrown by the validators and turned into a FlowLineError by the driver.
 * It carries no stack: it is data, thrown once per bad line, and capturing the stack of the
 * streams beneath the parser was 7 µs of a rejected line's 14 (a body of 900,000 bad lines kept a
 * core busy for 20 s); the line number says where, not the stack.
 */
export class FlowFieldError extends Error {
  constructor(
    readonly field: string | undefined,
    readonly reason: string,
  ) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(field === undefined ? reason : `${field}: ${reason}`);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}
