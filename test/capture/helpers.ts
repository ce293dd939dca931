/** Test helpers for the capture readers: collect packets, read oracles, write small test files. */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCapture, type OpenOptions } from '../../parsers/capture/open';
import { CaptureError, type CapturedPacket, type CaptureSummary } from '../../parsers/capture/types';

export interface PacketRow {
  index: number;
  tsSec: number;
  tsNsec: number;
  caplen: number;
  origlen: number;
  linktype: number;
  interfaceId: number;
  section: number;
  fileOffset: number;
  sha: string;
}

export function rowOf(p: CapturedPacket): PacketRow {
  return {
    index: p.index,
    tsSec: p.tsSec,
    tsNsec: p.tsNsec,
    caplen: p.caplen,
    origlen: p.origlen,
    linktype: p.linktype,
    interfaceId: p.interfaceId,
    section: p.section,
    fileOffset: p.fileOffset,
    sha: crypto
      .createHash('sha256')
      .update(p.buf.subarray(p.offset, p.offset + p.caplen))
      .digest('hex'),
  };
}

export interface Collected {
  rows: PacketRow[];
  summary?: CaptureSummary;
  error?: CaptureError;
}

/** Read a whole capture; a CaptureError is returned (with the packets delivered before it), anything else thrown. */
export async function collect(file: string, opts: OpenOptions = {}): Promise<Collected> {
  const rows: PacketRow[] = [];
  try {
    const summary = await readCapture(file, (p) => rows.push(rowOf(p)), opts);
    return { rows, summary };
  } catch (e) {
    if (e instanceof CaptureError) return { rows, error: e };
    throw e;
  }
}

/** "1300475167.096535000" as printed by tshark/tcpdump with nanosecond precision. */
export function epochString(r: { tsSec: number; tsNsec: number }): string {
  return `${r.tsSec}.${String(r.tsNsec).padStart(9, '0')}`;
}

/** tshark TSV oracle (header line + rows) as objects keyed by column name. */
export function readTsv(file: string): Record<string, string>[] {
  const lines = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
  const cols = lines[0].split('\t');
  return lines.slice(1).map((l) => {
    const cells = l.split('\t');
    const o: Record<string, string> = {};
    for (const [i, c] of cols.entries()) o[c] = cells[i] ?? '';
    return o;
  });
}

const tmpDirs: string[] = [];

export function tmpFile(name: string, data: Buffer): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-capture-'));
  tmpDirs.push(dir);
  const f = path.join(dir, name);
  fs.writeFileSync(f, data);
  return f;
}

/** Remove every file written by tmpFile (call from an `after` hook). */
export function removeTmpFiles(): void {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** Byte offsets of the record headers of a little-endian classic pcap. */
export function pcapRecordOffsets(le: Buffer): number[] {
  const out: number[] = [];
  let o = 24;
  while (o + 16 <= le.length) {
    out.push(o);
    o += 16 + le.readUInt32LE(o + 8);
  }
  return out;
}

/** Rewrite a little-endian classic pcap as big-endian (file header and every record header). */
export function pcapToBigEndian(le: Buffer): Buffer {
  const out = Buffer.from(le);
  out.writeUInt32BE(le.readUInt32LE(0), 0);
  out.writeUInt16BE(le.readUInt16LE(4), 4);
  out.writeUInt16BE(le.readUInt16LE(6), 6);
  for (const o of [8, 12, 16, 20]) out.writeUInt32BE(le.readUInt32LE(o), o);
  for (const r of pcapRecordOffsets(le)) {
    for (let i = 0; i < 16; i += 4) out.writeUInt32BE(le.readUInt32LE(r + i), r + i);
  }
  return out;
}

/** Minimal pcapng writer for generated test inputs. */
export class PcapngWriter {
  private readonly parts: Buffer[] = [];
  constructor(private readonly le: boolean) {}

  private u32(v: number): Buffer {
    const b = Buffer.alloc(4);
    if (this.le) b.writeUInt32LE(v >>> 0);
    else b.writeUInt32BE(v >>> 0);
    return b;
  }

  private u16(v: number): Buffer {
    const b = Buffer.alloc(2);
    if (this.le) b.writeUInt16LE(v);
    else b.writeUInt16BE(v);
    return b;
  }

  private pad(b: Buffer): Buffer {
    const n = (4 - (b.length % 4)) % 4;
    return n ? Buffer.concat([b, Buffer.alloc(n)]) : b;
  }

  option(code: number, value: Buffer): Buffer {
    return Buffer.concat([this.u16(code), this.u16(value.length), this.pad(value)]);
  }

  block(type: number, body: Buffer): this {
    const body4 = this.pad(body);
    const total = 12 + body4.length;
    this.parts.push(Buffer.concat([this.u32(type), this.u32(total), body4, this.u32(total)]));
    return this;
  }

  shb(): this {
    const b = Buffer.alloc(16);
    if (this.le) {
      b.writeUInt32LE(0x1a2b3c4d, 0);
      b.writeUInt16LE(1, 4);
    } else {
      b.writeUInt32BE(0x1a2b3c4d, 0);
      b.writeUInt16BE(1, 4);
    }
    b.writeBigInt64LE(-1n, 8);
    return this.block(0x0a0d0d0a, b);
  }

  idb(linktype: number, snaplen: number, options: Buffer[] = []): this {
    const opts = options.length ? Buffer.concat([...options, this.option(0, Buffer.alloc(0))]) : Buffer.alloc(0);
    return this.block(1, Buffer.concat([this.u16(linktype), this.u16(0), this.u32(snaplen), opts]));
  }

  epb(ifid: number, ts: bigint, data: Buffer, origlen = data.length): this {
    return this.block(
      6,
      Buffer.concat([this.u32(ifid), this.u32(Number(ts >> 32n)), this.u32(Number(ts & 0xffffffffn)), this.u32(data.length), this.u32(origlen), data]),
    );
  }

  /** Obsolete Packet Block (type 2): 16-bit interface id and drop count instead of a 32-bit id. */
  opb(ifid: number, ts: bigint, data: Buffer, origlen = data.length): this {
    return this.block(
      2,
      Buffer.concat([
        this.u16(ifid),
        this.u16(0),
        this.u32(Number(ts >> 32n)),
        this.u32(Number(ts & 0xffffffffn)),
        this.u32(data.length),
        this.u32(origlen),
        data,
      ]),
    );
  }

  spb(data: Buffer, origlen = data.length): this {
    return this.block(3, Buffer.concat([this.u32(origlen), data]));
  }

  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }

  /** Encode an if_tsoffset value (signed 64-bit seconds) in this writer's byte order. */
  i64(v: bigint): Buffer {
    const b = Buffer.alloc(8);
    if (this.le) b.writeBigInt64LE(v);
    else b.writeBigInt64BE(v);
    return b;
  }
}
