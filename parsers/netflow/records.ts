/**
 * NetFlow v5/v9/IPFIX datagrams to connection records, as a collector needs them: decoded,
 * converted, whole datagrams only (a datagram the decoder reports malformed gives no records:
 * its counts and times cannot be trusted), and one-way records stitched into connections
 * (stitch.ts) unless stitching is turned off. Biflows (RFC 5103) are whole already and pass.
 */
import type { ConnRecord } from '../record/conn';
import { NetflowDecoder, type DecoderOptions, type ExporterStats } from './decoder';
import { FlowStitcher, oneWay, type StitchOptions, type StitchStats } from './stitch';
import { FlowConverter, isBiflow, type ConverterOptions } from './to-conn';

export interface NetflowRecordsOptions extends ConverterOptions {
  decoder?: DecoderOptions;
  /** Pairing of one-way records (default on, holding a record 60 s of arrival time); false: every one-way record is emitted alone, marked one-way. */
  stitch?: StitchOptions | false;
}

export interface NetflowRecordCounts {
  /** Records converted from the exporter's well-formed datagrams. */
  records: number;
  /** Records decoded from datagrams found malformed, and dropped. */
  dropped: number;
}

export class NetflowRecords {
  readonly decoder: NetflowDecoder;
  private readonly converter: FlowConverter;
  private readonly stitcher: FlowStitcher | null;
  private readonly counts = new Map<string, NetflowRecordCounts>();
  /** The current datagram's records, with whether each is a biflow and its stitching scope. */
  private dg: { r: ConnRecord; biflow: boolean; scope: string }[] = [];

  constructor(
    private readonly emit: (r: ConnRecord) => void,
    o: NetflowRecordsOptions = {},
  ) {
    this.converter = new FlowConverter(o);
    this.stitcher = o.stitch === false ? null : new FlowStitcher(emit, o.stitch);
    this.decoder = new NetflowDecoder((f) => {
      const r = this.converter.toConn(f);
      if (r !== null) this.dg.push({ r, biflow: isBiflow(f), scope: `${f.exporter}|${f.domain}` });
    }, o.decoder);
  }

  /** Decode one datagram; returns the records it contributed (0 for a malformed one). */
  decode(b: Uint8Array, exporter: string, nowMs: number = Date.now()): number {
    this.dg = [];
    this.decoder.decode(b, exporter, nowMs);
    let c = this.counts.get(exporter);
    if (c === undefined) {
      c = { records: 0, dropped: 0 };
      this.counts.set(exporter, c);
    }
    const got = this.dg;
    this.dg = [];
    if (this.decoder.lastMalformed) {
      c.dropped += got.length;
      return 0;
    }
    c.records += got.length;
    for (const x of got) {
      if (x.biflow) this.emit(x.r);
      else if (this.stitcher) this.stitcher.add(x.r, x.scope, nowMs / 1000);
      else this.emit(oneWay(x.r));
    }
    return got.length;
  }

  /** Emit, alone, one-way records that waited longer than the hold (call it on a timer). */
  expire(nowMs: number = Date.now()): void {
    this.stitcher?.expire(nowMs / 1000);
  }

  /** Emit everything still waiting for its reverse. */
  flush(): void {
    this.stitcher?.flush();
  }

  countsOf(exporter: string): NetflowRecordCounts {
    return this.counts.get(exporter) ?? { records: 0, dropped: 0 };
  }

  get stitchStats(): StitchStats | null {
    return this.stitcher?.stats ?? null;
  }

  stats(): ReadonlyMap<string, ExporterStats> {
    return this.decoder.stats();
  }
}
