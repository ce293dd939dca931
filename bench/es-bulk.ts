/**
 * The peer of our Elasticsearch path in the benchmarks: prepared `_bulk` bodies sent straight to
 * the node, `concurrency` requests in flight, as little as possible in the way (the ceiling).
 */

export async function rawBulk(node: string, bodies: string[], concurrency: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < bodies.length) {
      const body = bodies[next++];
      // Only `errors` back, as our path asks for only what it reads: the ceiling is not slowed by parsing what it ignores.
      const res = await fetch(`${node}/_bulk?filter_path=errors`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
      const j = (await res.json()) as { errors: boolean };
      if (!res.ok || j.errors) throw new Error(`raw bulk failed: ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
