/**
 * The service map's graph from GET /aggregations/edges: namespaces as compound nodes, workloads
 * (or bare addresses when no workload is known) as nodes, one edge per source, destination and
 * transport with the ports it used (a port scan is one edge, not hundreds); edges marked when
 * open alerts or policy denials concern them.
 */
import type { Alert, AlertEntity, Edge, EdgeEnd } from './types';
import { and, anyOf, clause, endQuery, type EndIdentity } from './query';

/** Above this many ports an edge's query leaves the port out (the query length stays bounded). */
export const EDGE_QUERY_PORTS = 20;

export interface MapNode {
  id: string;
  label: string;
  parent: string | null;
  kind: 'namespace' | 'workload' | 'address';
  namespace: string | null;
  workload: string | null;
  ips: Set<string>;
}

export interface MapEdge {
  id: string;
  source: string;
  target: string;
  transport: string;
  /** Destination ports, ascending. */
  ports: number[];
  connections: number;
  bytes: number;
  denied: boolean;
  alerts: string[];
  query: string;
}

export interface Graph {
  nodes: MapNode[];
  edges: MapEdge[];
}

function nodeId(e: EdgeEnd): string {
  return e.workload ? `w:${e.namespace ?? ''}/${e.workload}` : `a:${e.ip}`;
}

function identity(e: EdgeEnd): EndIdentity {
  return e.workload ? { namespace: e.namespace, workload: e.workload } : { ip: e.ip };
}

function edgeKey(e: Edge): string {
  return `${nodeId(e.source)}|${nodeId(e.destination)}|${e.transport}`;
}

function portKey(e: Edge): string {
  return `${edgeKey(e)}/${e.destination.port ?? ''}`;
}

export function portsLabel(ports: number[], max = 3): string {
  if (ports.length === 0) return '*';
  const shown = ports.slice(0, max).join(',');
  return ports.length > max ? `${shown},+${ports.length - max}` : shown;
}

/** Does an alert's entity describe this node (by workload when it names one, else by address)? */
function entityMatches(a: AlertEntity | undefined, n: MapNode): boolean {
  if (!a) return true;
  if (a.workload) return n.workload === a.workload && (!a.namespace || n.namespace === a.namespace);
  if (a.ip) return n.ips.has(a.ip);
  if (a.namespace) return n.namespace === a.namespace;
  return true;
}

export function alertMatchesEdge(a: Alert, e: MapEdge, byId: Map<string, MapNode>): boolean {
  const s = byId.get(e.source);
  const t = byId.get(e.target);
  if (!s || !t) return false;
  if (!a.source && !a.destination) return false;
  if (a.destination?.port !== undefined && !e.ports.includes(a.destination.port)) return false;
  return entityMatches(a.source, s) && entityMatches(a.destination, t);
}

export function buildGraph(edges: Edge[], denied: Edge[], alerts: Alert[]): Graph {
  const nodes = new Map<string, MapNode>();
  const touch = (end: EdgeEnd): string => {
    const id = nodeId(end);
    let n = nodes.get(id);
    if (!n) {
      const parent = end.namespace ? `ns:${end.namespace}` : null;
      if (parent && !nodes.has(parent)) {
        nodes.set(parent, {
          id: parent,
          label: end.namespace as string,
          parent: null,
          kind: 'namespace',
          namespace: end.namespace,
          workload: null,
          ips: new Set(),
        });
      }
      n = {
        id,
        label: end.workload ?? end.ip,
        parent,
        kind: end.workload ? 'workload' : 'address',
        namespace: end.namespace,
        workload: end.workload,
        ips: new Set(),
      };
      nodes.set(id, n);
    }
    n.ips.add(end.ip);
    return id;
  };
  const deniedKeys = new Set(denied.map(portKey));
  const out = new Map<string, MapEdge & { src: EndIdentity; dst: EndIdentity }>();
  for (const e of edges) {
    const source = touch(e.source);
    const target = touch(e.destination);
    const key = edgeKey(e);
    let m = out.get(key);
    if (!m) {
      m = {
        id: `e${out.size}`,
        source,
        target,
        transport: e.transport,
        ports: [],
        connections: 0,
        bytes: 0,
        denied: false,
        alerts: [],
        query: '',
        src: identity(e.source),
        dst: identity(e.destination),
      };
      out.set(key, m);
    }
    const port = e.destination.port;
    if (port !== undefined && port !== null && !m.ports.includes(port)) m.ports.push(port);
    m.connections += e.connections;
    m.bytes += e.bytes;
    if (deniedKeys.has(portKey(e))) m.denied = true;
  }
  const list: MapEdge[] = [...out.values()].map(({ src, dst, ...m }) => {
    const ports = [...m.ports].sort((a, b) => a - b);
    const portClause =
      ports.length === 0 || ports.length > EDGE_QUERY_PORTS
        ? null
        : ports.length === 1
          ? clause('destination.port', ports[0])
          : anyOf('destination.port', ports.map(String));
    return { ...m, ports, query: and(endQuery('source', src), endQuery('destination', dst), portClause, clause('network.transport', m.transport)) };
  });
  for (const a of alerts) {
    for (const e of list) if (alertMatchesEdge(a, e, nodes)) e.alerts.push(a.id);
  }
  return { nodes: [...nodes.values()], edges: list };
}

/** Above this many edges the map is drawn for size, not detail: see ServiceMap. */
export const LARGE_MAP_EDGES = 400;

/**
 * Positions for a large map in one pass, instead of a force layout whose iterations grow with the
 * square of the nodes (cose took seconds at ~1,000 edges and froze the page): the nodes of each
 * namespace in a square block, busiest first, the blocks in rows. Namespace nodes are compound
 * parents, placed by their children, so they get no position.
 */
export function blockPositions(g: Graph, spacing = 90): Record<string, { x: number; y: number }> {
  const degree = new Map<string, number>();
  for (const e of g.edges) {
    degree.set(e.source, (degree.get(e.source) ?? 0) + e.connections);
    degree.set(e.target, (degree.get(e.target) ?? 0) + e.connections);
  }
  const groups = new Map<string, MapNode[]>();
  for (const n of g.nodes) {
    if (n.kind === 'namespace') continue;
    const k = n.parent ?? '';
    const list = groups.get(k);
    if (list) list.push(n);
    else groups.set(k, [n]);
  }
  const blocks = [...groups.entries()]
    .sort(([a, x], [b, y]) => y.length - x.length || (a < b ? -1 : 1))
    .map(([, list]) => list.sort((a, b) => (degree.get(b.id) ?? 0) - (degree.get(a.id) ?? 0) || (a.id < b.id ? -1 : 1)));
  const total = blocks.reduce((s, b) => s + b.length, 0);
  const rowWidth = Math.max(1, Math.ceil(Math.sqrt(total) * 1.6)) * spacing;
  const out: Record<string, { x: number; y: number }> = {};
  let x0 = 0;
  let y0 = 0;
  let rowHeight = 0;
  for (const b of blocks) {
    const cols = Math.max(1, Math.ceil(Math.sqrt(b.length)));
    const w = cols * spacing;
    const h = Math.ceil(b.length / cols) * spacing;
    if (x0 > 0 && x0 + w > rowWidth) {
      x0 = 0;
      y0 += rowHeight + spacing;
      rowHeight = 0;
    }
    b.forEach((n, i) => {
      out[n.id] = { x: x0 + (i % cols) * spacing, y: y0 + Math.floor(i / cols) * spacing };
    });
    x0 += w + spacing;
    rowHeight = Math.max(rowHeight, h);
  }
  return out;
}
