/**
 * Where the service map's layout is computed: in a worker (layout.worker.ts), so that the page
 * keeps answering while a force layout runs; on the page's thread only when the browser cannot
 * start the worker (no Worker, or a module worker that fails to load). Either way the positions
 * are the same (lib/layout.ts). The time spent is a performance measure named `eastwatch:layout`
 * (its detail says where it ran), which the browser tests read beside the page's long tasks.
 */
import { computeLayout, type LayoutAlgorithm, type LayoutRequest, layoutRequest, positionsOf } from '../lib/layout';
import type { Graph } from '../lib/map';
import type { LayoutReply } from './layout.worker';

export interface Layout {
  algorithm: LayoutAlgorithm;
  positions: Record<string, { x: number; y: number }>;
  thread: 'worker' | 'main';
  /** From the request to the positions, as the page waited for them (ms). */
  ms: number;
}

interface Job {
  request: LayoutRequest;
  resolve(xy: Float64Array): void;
  reject(e: Error): void;
}

/** The worker; null once it could not be started (every layout then runs on the page's thread). */
let worker: Worker | null | undefined;
let nextId = 1;
const jobs = new Map<number, Job>();

function onMain(job: Job): void {
  try {
    job.resolve(computeLayout(job.request));
  } catch (e) {
    job.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

/** The worker, started on first use; null when this browser cannot run it. */
function start(): Worker | null {
  if (worker !== undefined) return worker;
  if (typeof Worker === 'undefined') {
    worker = null;
    return worker;
  }
  try {
    const w = new Worker(new URL('./layout.worker.ts', import.meta.url), { type: 'module' });
    w.onmessage = (e: MessageEvent<LayoutReply>) => {
      const job = jobs.get(e.data.id);
      if (!job) return;
      jobs.delete(e.data.id);
      if ('error' in e.data) job.reject(new Error(`map layout: ${e.data.error}`));
      else job.resolve(e.data.xy);
    };
    // A worker that failed to load (a browser without module workers, a policy that forbids it):
    // what it was asked is computed here instead.
    w.onerror = (e) => {
      e.preventDefault();
      w.terminate();
      worker = null;
      const waiting = [...jobs.values()];
      jobs.clear();
      for (const job of waiting) onMain(job);
    };
    worker = w;
  } catch {
    worker = null;
  }
  return worker;
}

/** Starts the worker ahead of the first layout (while the map's edges are fetched), loading its code meanwhile. */
export function prewarmLayout(): void {
  start();
}

/**
 * The positions of a graph's nodes for a canvas of this size. Aborted, a layout still running in
 * the worker is stopped (the worker with it; the next layout starts another), so that a map
 * redrawn many times in a row does not queue layouts nobody waits for.
 */
export function layoutGraph(graph: Graph, algorithm: LayoutAlgorithm, width: number, height: number, signal: AbortSignal): Promise<Layout> {
  const t0 = performance.now();
  const request = layoutRequest(graph, algorithm, width, height);
  const ids = request.ids;
  const w = start();
  const thread = w ? 'worker' : 'main';
  return new Promise<Float64Array>((resolve, reject) => {
    const job: Job = { request, resolve, reject };
    if (!w) {
      onMain(job);
      return;
    }
    const id = nextId++;
    jobs.set(id, job);
    signal.addEventListener(
      'abort',
      () => {
        if (!jobs.delete(id) || worker !== w) return;
        w.terminate();
        worker = undefined;
        // Other layouts waiting on the stopped worker (none, as the map asks for one at a time) go to the next one.
        const waiting = [...jobs.values()];
        jobs.clear();
        for (const other of waiting) layoutOn(other);
      },
      { once: true },
    );
    // The request is copied (a few typed arrays: a memcpy), not transferred: if the worker fails
    // to load, the page computes it from its own copy.
    w.postMessage({ id, request });
  }).then((xy) => {
    const end = performance.now();
    performance.measure('eastwatch:layout', { start: t0, end, detail: { algorithm, thread, nodes: ids.length, edges: graph.edges.length } });
    return { algorithm, positions: positionsOf(ids, xy), thread, ms: end - t0 };
  });
}

/** A job sent again to whatever runs layouts now. */
function layoutOn(job: Job): void {
  const w = start();
  if (!w) {
    onMain(job);
    return;
  }
  const id = nextId++;
  jobs.set(id, job);
  w.postMessage({ id, request: job.request });
}
