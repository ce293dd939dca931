/**
 * The service map's layout worker: a force layout of a few hundred edges takes the page's thread
 * for seconds on a slow machine, and the page must stay usable meanwhile. One request at a time,
 * answered with its positions' buffer transferred, not copied.
 */
import { computeLayout, type LayoutRequest } from '../lib/layout';

export type LayoutReply = { id: number; xy: Float64Array; ms: number } | { id: number; error: string };

self.onmessage = (e: MessageEvent<{ id: number; request: LayoutRequest }>) => {
  const { id, request } = e.data;
  const t0 = performance.now();
  try {
    const xy = computeLayout(request);
    const reply: LayoutReply = { id, xy, ms: performance.now() - t0 };
    self.postMessage(reply, { transfer: [xy.buffer] });
  } catch (err) {
    const reply: LayoutReply = { id, error: err instanceof Error ? err.message : String(err) };
    self.postMessage(reply);
  }
};
