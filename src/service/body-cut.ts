/**
 * `req.pipe(dest)` passes a request body's data and its end, not its failure: a body cut by the
 * body watch (408: api/body-watch.ts destroys the request), or a client gone mid-body, leaves
 * `dest` waiting for more, and whatever reads it (the flows parser and its backlog poll, a
 * multipart upload's file) waits forever with the request it holds. In the soak (bench/soak.ts)
 * every slowloris body the server cut was such a handler: 400 of them after 4 minutes, the
 * server's RSS rising ~10 MB a minute.
 */
import { finished, type Readable, type Writable } from 'node:stream';

/** Destroys `dest` with `wrap(error)` when `req` fails or closes before its end. */
export function followCut(req: Readable, dest: Writable, wrap: (e: Error) => Error): void {
  finished(req, (e) => {
    if (e && !dest.destroyed) dest.destroy(wrap(e));
  });
}
