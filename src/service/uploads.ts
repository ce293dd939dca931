/**
 * Capture uploads: the body is streamed to a file under the data directory (never held in
 * memory), hashed on the way, cut off at the size limit, and refused unless its first bytes are
 * a pcap, pcapng or gzip magic. The kept file is named by its SHA-256 (and the cluster it was
 * uploaded to, when not the default: see k8s/cluster.ts captureId), which is also the job id, so
 * uploading the same bytes to the same cluster twice finds the first job.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import type { IncomingHttpHeaders } from 'node:http';
import { followCut } from './body-cut';

export type CaptureFormat = 'pcap' | 'pcapng' | 'gzip';

export class UploadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'UploadError';
  }
}

/** The capture format from the first four bytes, or null. */
export function sniffCapture(head: Buffer): CaptureFormat | null {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length < 4) return null;
  const m = head.readUInt32BE(0);
  if (m === 0xa1b2c3d4 || m === 0xd4c3b2a1 || m === 0xa1b23c4d || m === 0x4d3cb2a1) return 'pcap';
  if (m === 0x0a0d0d0a) return 'pcapng';
  return null;
}

class Inspect extends Transform {
  readonly hash = crypto.createHash('sha256');
  bytes = 0;
  format: CaptureFormat | null = null;
  private head = Buffer.alloc(0);

  constructor(
    private readonly maxBytes: number,
    private readonly what: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      cb(new UploadError(413, `${this.what} is larger than the ${this.maxBytes}-byte upload limit`));
      return;
    }
    if (this.format === null) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, 4)]).subarray(0, 4);
      if (this.head.length >= 4) {
        this.format = sniffCapture(this.head);
        if (this.format === null) {
          cb(new UploadError(415, `${this.what} is not a capture: its first bytes ${this.head.toString('hex')} are no pcap, pcapng or gzip magic`));
          return;
        }
      }
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.format === null) {
      cb(
        new UploadError(
          this.bytes === 0 ? 400 : 415,
          this.bytes === 0 ? `${this.what} is empty` : `${this.what} is too short to be a capture (${this.bytes} bytes)`,
        ),
      );
      return;
    }
    cb();
  }
}

export interface ReceivedCapture {
  /** The kept file: <dir>/<sha256><suffix>.<ext>. */
  path: string;
  sha256: string;
  bytes: number;
  format: CaptureFormat;
  name: string;
  /** False when a file with these bytes was already kept (the new copy was dropped). */
  isNew: boolean;
}

const EXT: Record<CaptureFormat, string> = { pcap: 'pcap', pcapng: 'pcapng', gzip: 'pcap.gz' };

async function keep(input: Readable, dir: string, maxBytes: number, name: string, suffix: string): Promise<ReceivedCapture> {
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.upload-${process.pid}-${crypto.randomBytes(8).toString('hex')}`);
  const inspect = new Inspect(maxBytes, `upload '${name}'`);
  const out = fs.createWriteStream(tmp, { mode: 0o640 });
  const closed = new Promise<void>((r) => out.once('close', () => r()));
  try {
    await pipeline(input, inspect, out);
  } catch (e) {
    // The file may still be opening when the pipeline fails: remove it only once the stream is closed.
    await closed;
    fs.rmSync(tmp, { force: true });
    input.resume();
    if (e instanceof UploadError) throw e;
    throw new UploadError(400, `upload '${name}' was cut off: ${(e as Error).message}`);
  }
  const sha256 = inspect.hash.digest('hex');
  const format = inspect.format as CaptureFormat;
  const final = path.join(dir, `${sha256}${suffix}.${EXT[format]}`);
  const isNew = !fs.existsSync(final);
  if (isNew) fs.renameSync(tmp, final);
  else fs.rmSync(tmp, { force: true });
  return { path: final, sha256, bytes: inspect.bytes, format, name, isNew };
}

const SAFE_NAME = /[^A-Za-z0-9._ -]/g;

export function displayName(raw: string | undefined, fallback: string): string {
  const base = path
    .basename(raw ?? '')
    .replace(SAFE_NAME, '_')
    .slice(0, 200);
  return base === '' ? fallback : base;
}

/**
 * Receives one capture from a request: multipart/form-data (the first file part; other file
 * parts are refused) or the raw body (any other content type; the name from ?name= or
 * X-Filename).
 */
export function receiveCapture(
  req: Readable & { headers: IncomingHttpHeaders },
  dir: string,
  maxBytes: number,
  rawName?: string,
  suffix = '',
): Promise<ReceivedCapture> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes + 64 * 1024) {
    return Promise.reject(new UploadError(413, `the request declares ${declared} bytes, above the ${maxBytes}-byte upload limit`));
  }
  const type = req.headers['content-type'] ?? '';
  if (!type.toLowerCase().startsWith('multipart/form-data')) {
    return keep(req, dir, maxBytes, displayName(rawName, 'upload'), suffix);
  }
  return new Promise<ReceivedCapture>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fileSize: maxBytes + 1, fields: 10, fieldSize: 4096, parts: 12 } });
    } catch (e) {
      reject(new UploadError(400, `bad multipart request: ${(e as Error).message}`));
      return;
    }
    let pending: Promise<ReceivedCapture> | null = null;
    let refused: UploadError | null = null;
    bb.on('file', (_field, file, info) => {
      if (pending) {
        file.resume();
        return;
      }
      pending = keep(file, dir, maxBytes, displayName(info.filename, 'upload'), suffix);
      pending.catch(() => undefined);
    });
    bb.on('filesLimit', () => {
      refused = new UploadError(400, 'one capture per request: send the others in their own requests');
    });
    bb.on('error', (e: Error) => {
      const bad = new UploadError(400, `bad multipart request: ${e.message}`);
      // A file being written is removed first (keep()), and its own failure says more.
      if (pending) pending.then(() => reject(bad), reject);
      else reject(bad);
    });
    bb.on('close', () => {
      if (!pending) {
        reject(refused ?? new UploadError(400, 'the multipart request has no file part'));
        return;
      }
      pending.then((r) => {
        if (refused) {
          if (r.isNew) fs.rmSync(r.path, { force: true });
          reject(refused);
        } else resolve(r);
      }, reject);
    });
    // Destroyed, busboy fails the file stream too: keep() removes its temporary file.
    followCut(req, bb, (e) => new Error(`the request was cut off before its end (${e.message})`));
    req.pipe(bb);
  });
}
