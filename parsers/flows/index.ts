/**
 * Flow-log ingestion: a Node Readable of NDJSON, a JSON array, or text lines in one of the
 * FlowFormats, streamed into ConnRecords with bounded memory. Bad lines are reported with their
 * line number and the parse goes on; the promise resolves with counts once the input ends (it
 * rejects only when the stream itself fails).
 */
import type { Readable } from 'node:stream';
import type { ConnRecord, RecordSource } from '../record/conn';
import { DEFAULT_LOCAL_NETS, LocalNets } from '../record/local-nets';
import { UidGenerator } from '../record/uid';
import { type FormatParser, type ParserCounters, RecordKit } from './common';
import { HubbleParser } from './hubble';
import { JsonArraySplitter, LineSplitter, type UnitSink } from './lines';
import { ConnNdjsonParser } from './ndjson';
import { sniffFormat } from './sniff';
import { FlowFieldError, type FlowFormat, type FlowLineError, type FlowParseOptions, type FlowParseSummary, FLOW_FORMATS } from './types';
import { FlowStitcher } from '../netflow/stitch';
import { VpcParser } from './vpc';
import { ZeekJsonParser, ZeekTsvParser } from './zeek';

export * from './types';
export { sniffFormat } from './sniff';

export const DEFAULT_MAX_LINE_BYTES = 1 << 20;

let defaultNets: LocalNets | undefined;

/** The start of a flow log delivery as one JSON document: a Firehose request's or a CloudWatch Logs payload's first key. */
const DELIVERY_HEAD = /^[\s\uFEFF]*\{\s*"(requestId|timestamp|records|messageType|owner|logGroup|logStream|subscriptionFilters|logEvents)"\s*:/;

/** The ConnRecord.source of a flow format's records. */
export function recordSourceOf(format: FlowFormat): RecordSource {
  return format === 'zeek-tsv' || format === 'zeek-json' ? 'zeek' : format;
}

function makeParser(
  format: FlowFormat,
  opts: FlowParseOptions,
  emit: (r: ConnRecord) => void,
  counters: ParserCounters,
  report: (field: string | undefined, reason: string) => void,
): FormatParser {
  defaultNets ??= new LocalNets(DEFAULT_LOCAL_NETS);
  const kit = new RecordKit(opts.localNets ?? defaultNets, opts.communityIdSeed ?? 0, recordSourceOf(format));
  const uids = new UidGenerator();
  switch (format) {
    case 'zeek-tsv':
      return new ZeekTsvParser(kit, uids, emit, counters);
    case 'zeek-json':
      return new ZeekJsonParser(kit, uids, emit);
    case 'aws-vpc':
      return new VpcParser(
        kit,
        uids,
        emit,
        counters,
        opts.stitch === false ? null : new FlowStitcher(emit, { holdSec: 660, maxPending: 4096, ...opts.stitch }),
        opts.vpcFields,
        report,
        opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
      );
    case 'hubble':
      return new HubbleParser(kit, uids, emit, counters, opts.hubble, opts.onApp);
    case 'ndjson':
      return new ConnNdjsonParser(kit, emit);
  }
}

export function parseFlows(
  input: Readable,
  opts: FlowParseOptions,
  onRecord: (r: ConnRecord) => void,
  onError: (e: FlowLineError) => void,
): Promise<FlowParseSummary> {
  if (opts.format !== undefined && !FLOW_FORMATS.includes(opts.format)) throw new Error(`unknown flow format '${String(opts.format)}'`);
  if (opts.vpcFields !== undefined && opts.format !== undefined && opts.format !== 'aws-vpc')
    throw new Error(`a VPC field list was given for the ${opts.format} format`);
  const named = opts.format ?? (opts.vpcFields !== undefined ? 'aws-vpc' : undefined);
  const limit = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const summary: FlowParseSummary = {
    source: opts.source,
    format: named ?? null,
    lines: 0,
    bytes: 0,
    records: 0,
    errors: 0,
    events: 0,
    noData: 0,
    skipData: 0,
    ignored: 0,
  };
  const emit = (r: ConnRecord): void => {
    summary.records++;
    onRecord(r);
  };
  let parser: FormatParser | null = null;
  /** The line being parsed: where a delivery's records that cannot be read are reported. */
  let current = 0;
  const report = (line: number, field: string | undefined, reason: string): void => {
    summary.errors++;
    const where = line > 0 ? `line ${line}: ` : '';
    const what = field === undefined ? reason : `${field}: ${reason}`;
    onError({ source: opts.source, line, field, reason, message: `${opts.source}: ${where}${what}` });
  };
  const guard = (line: number, f: () => void): void => {
    try {
      f();
    } catch (e) {
      if (e instanceof FlowFieldError) report(line, e.field, e.reason);
      // Anything else is a bug of ours; still a line error rather than a dead ingest.
      else report(line, undefined, `internal error: ${(e as Error).message}`);
    }
  };

  const sink: UnitSink = {
    unit(text, line) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.trim() === '') return;
      if (parser === null) {
        const fmt = summary.format ?? sniffFormat(text);
        if (fmt === null) {
          // Reported, and the next line tried: a bad first line must not cost the lines after it.
          report(line, undefined, `cannot tell the format from this line (name one of ${FLOW_FORMATS.join(', ')})`);
          return;
        }
        summary.format = fmt;
        opts.onFormat?.(fmt);
        parser = makeParser(fmt, opts, emit, summary, (field, reason) => report(current, field, reason));
      }
      const p = parser;
      current = line;
      guard(line, () => p.line(text, line));
      opts.onLine?.(text, summary.format as FlowFormat);
    },
    tooLong(line, max, document) {
      report(line, undefined, document ? `a delivery longer than the ${max}-byte document limit; skipped` : `longer than the ${max}-byte line limit; skipped`);
    },
    framing(line, reason) {
      report(line, undefined, reason);
    },
  };

  const maxDoc = opts.maxDocumentBytes;
  // Only a VPC delivery (or a body whose format is still to be sniffed) may be read whole.
  const doc =
    maxDoc !== undefined && maxDoc > limit
      ? { limit: maxDoc, accepts: (head: string) => (summary.format === null || summary.format === 'aws-vpc') && DELIVERY_HEAD.test(head) }
      : undefined;

  return (async () => {
    let splitter: LineSplitter | JsonArraySplitter | null = null;
    for await (const chunk of input) {
      const buf: Buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
      summary.bytes += buf.length;
      if (splitter === null) {
        // The first non-blank byte decides: a JSON array, or lines.
        let i = 0;
        while (
          i < buf.length &&
          (buf[i] === 0x20 || buf[i] === 0x09 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0xef || buf[i] === 0xbb || buf[i] === 0xbf)
        )
          i++;
        if (i === buf.length) {
          // Only blanks so far: count their lines and wait.
          summary.lines += countNewlines(buf);
          continue;
        }
        const pre = summary.lines;
        splitter = buf[i] === 0x5b ? new JsonArraySplitter(sink, limit) : new LineSplitter(sink, limit, doc);
        splitter.lines += pre;
      }
      splitter.push(buf);
    }
    splitter?.end();
    if (parser !== null) {
      const p: FormatParser = parser;
      guard(splitter?.lines ?? 0, () => p.end());
    }
    summary.lines = splitter?.lines ?? summary.lines;
    return summary;
  })();
}

function countNewlines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) n++;
  return n;
}
