/**
 * The service map's graph from GET /aggregations/edges: namespaces as compound nodes, workloads
 * (else the service a ClusterIP belongs to, else bare addresses) as nodes, one edge per source, destination and
 * transport with the ports it used (a port scan is one edge, not hundreds); edges marked when
 * open alerts or policy denials concern them.
 */
import { getDomain } from 'tldts';
import type { Alert, AlertEntity, Edge, EdgeEnd } from './types';
import { and, anyOf, clause, endQuery, type EndIdentity } from './query';

/** Above this many ports an edge's query leaves the port out (the query length stays bounded). */
export const EDGE_QUERY_PORTS = 20;

export interface MapNode {
  id: string;
  label: string;
  parent: string | null;
  /**
   * group: a collapsed namespace or domain, one node standing for its members (see groupGraph).
   * domain: external destinations named under one registered domain, a compound like a namespace.
   */
  kind: 'namespace' | 'domain' | 'workload' | 'service' | 'address' | 'group';
  namespace: string | null;
  /** External addresses named by the edges API: their registered domain (tldts), which groups them. */
  domain?: string;
  workload: string | null;
  service: string | null;
  ips: Set<string>;
  /** Groups: how many nodes of the full graph this one stands for. */
  members?: number;
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
  /** The ends as the query language selects them (groupGraph rewrites a collapsed end to its namespace). */
  ends: [EndIdentity, EndIdentity];
  /** Aggregated edges (groupGraph): how many edges of the full graph this one stands for. */
  members?: number;
}

/**
 * What a compound is expanded or collapsed by: a namespace's name, or a registered domain
 * (Kubernetes namespaces are DNS labels, without dots, so the two never collide).
 */
export function groupKey(n: MapNode): string | null {
  return n.namespace ?? n.domain ?? null;
}

/** The registered domain of a destination's name (example.co.uk for a.b.example.co.uk), or null. */
export function registeredDomain(name: string | undefined): string | null {
  return name ? getDomain(name) : null;
}

export interface Graph {
  nodes: MapNode[];
  edges: MapEdge[];
}

/** A ClusterIP (or an endpoint with no workload) is drawn as its service, so its callers meet in one node. */
function nodeId(e: EdgeEnd): string {
  if (e.workload) return `w:${e.namespace ?? ''}/${e.workload}`;
  if (e.service) return `s:${e.namespace ?? ''}/${e.service}`;
  return `a:${e.ip}`;
}

function identity(e: EdgeEnd): EndIdentity {
  if (e.workload) return { namespace: e.namespace, workload: e.workload };
  if (e.service) return { namespace: e.namespace, service: e.service };
  return { ip: e.ip };
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
  if (n.kind === 'group') return n.namespace === a.namespace;
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

function edgeQuery(src: EndIdentity, dst: EndIdentity, ports: number[], transports: string[]): string {
  const portClause =
    ports.length === 0 || ports.length > EDGE_QUERY_PORTS
      ? null
      : ports.length === 1
        ? clause('destination.port', ports[0])
        : anyOf('destination.port', ports.map(String));
  return and(endQuery('source', src), endQuery('destination', dst), portClause, anyOf('network.transport', transports));
}

export function buildGraph(edges: Edge[], denied: Edge[], alerts: Alert[]): Graph {
  const nodes = new Map<string, MapNode>();
  const touch = (end: EdgeEnd): string => {
    const id = nodeId(end);
    let n = nodes.get(id);
    if (!n) {
      const domain = end.namespace || end.workload || end.service ? null : registeredDomain(end.name);
      if (domain && !nodes.has(`dom:${domain}`)) {
        nodes.set(`dom:${domain}`, {
          id: `dom:${domain}`,
          label: domain,
          parent: null,
          kind: 'domain',
          namespace: null,
          domain,
          workload: null,
          service: null,
          ips: new Set(),
        });
      }
      const parent = end.namespace ? `ns:${end.namespace}` : domain ? `dom:${domain}` : null;
      if (parent && end.namespace && !nodes.has(parent)) {
        nodes.set(parent, {
          id: parent,
          label: end.namespace as string,
          parent: null,
          kind: 'namespace',
          namespace: end.namespace,
          workload: null,
          service: null,
          ips: new Set(),
        });
      }
      const service = end.workload ? null : (end.service ?? null);
      n = {
        id,
        label: end.workload ?? service ?? end.name ?? end.ip,
        parent,
        kind: end.workload ? 'workload' : service ? 'service' : 'address',
        namespace: end.namespace,
        workload: end.workload,
        service,
        ...(domain ? { domain } : {}),
        ips: new Set(),
      };
      nodes.set(id, n);
    }
    n.ips.add(end.ip);
    return id;
  };
  const deniedKeys = new Set(denied.map(portKey));
  const out = new Map<string, MapEdge>();
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
        ends: [identity(e.source), identity(e.destination)],
      };
      out.set(key, m);
    }
    const port = e.destination.port;
    if (port !== undefined && port !== null && !m.ports.includes(port)) m.ports.push(port);
    m.connections += e.connections;
    m.bytes += e.bytes;
    if (deniedKeys.has(portKey(e))) m.denied = true;
  }
  const list: MapEdge[] = [...out.values()].map((m) => {
    const ports = [...m.ports].sort((a, b) => a - b);
    return { ...m, ports, query: edgeQuery(m.ends[0], m.ends[1], ports, [m.transport]) };
  });
  for (const a of alerts) {
    for (const e of list) if (alertMatchesEdge(a, e, nodes)) e.alerts.push(a.id);
  }
  return { nodes: [...nodes.values()], edges: list };
}

/**
 * The map's "alerts only" filter: the edges with open alerts and the nodes they join (with the
 * namespaces those sit in). Client-side, since the map already holds the alerts it matched to
 * edges; the edges API has no alert join.
 */
export function alertedOnly(g: Graph): Graph {
  const edges = g.edges.filter((e) => e.alerts.length > 0);
  const keep = new Set<string>();
  for (const e of edges) keep.add(e.source).add(e.target);
  const parents = new Set<string>();
  for (const n of g.nodes) if (keep.has(n.id) && n.parent) parents.add(n.parent);
  return { nodes: g.nodes.filter((n) => keep.has(n.id) || parents.has(n.id)), edges };
}

/**
 * The map as drawn: every namespace not in `open` collapsed into one node (kind group), its
 * edges merged per pair of drawn ends, whatever the transport: connections and bytes summed,
 * ports and alerts united, denied when any was. A merged edge's query selects a collapsed end
 * by its namespace, so it finds the connections of every edge it stands for. Nodes outside any
 * namespace (addresses outside the cluster) are never collapsed.
 */
export function groupGraph(g: Graph, open: (ns: string) => boolean): Graph {
  const to = new Map<string, string>();
  const nodes: MapNode[] = [];
  const groups = new Map<string, MapNode>();
  for (const n of g.nodes) {
    if (n.kind === 'namespace' || n.kind === 'domain') {
      if (open(n.label)) nodes.push(n);
      continue;
    }
    const key = groupKey(n);
    const ns = n.parent && key !== null && !open(key) ? key : null;
    if (ns === null) {
      nodes.push(n);
      to.set(n.id, n.id);
      continue;
    }
    const id = `g:${ns}`;
    let grp = groups.get(id);
    if (!grp) {
      grp = {
        id,
        label: ns,
        parent: null,
        kind: 'group',
        namespace: n.namespace,
        ...(n.namespace ? {} : { domain: ns }),
        workload: null,
        service: null,
        ips: new Set(),
        members: 0,
      };
      groups.set(id, grp);
      nodes.push(grp);
    }
    grp.members = (grp.members ?? 0) + 1;
    for (const ip of n.ips) grp.ips.add(ip);
    to.set(n.id, id);
  }
  const merged = new Map<string, MapEdge & { transports: Set<string> }>();
  for (const e of g.edges) {
    const source = to.get(e.source) ?? e.source;
    const target = to.get(e.target) ?? e.target;
    if (source === e.source && target === e.target) {
      merged.set(`=${e.id}`, { ...e, transports: new Set([e.transport]) });
      continue;
    }
    const key = `${source}|${target}`;
    let m = merged.get(key);
    if (!m) {
      // A collapsed namespace is selected by its name; a collapsed domain by its addresses.
      const end = (id: string, own: EndIdentity): EndIdentity => {
        const grp = groups.get(id);
        if (!grp) return own;
        return grp.namespace ? { namespace: grp.namespace } : { ips: [...grp.ips].sort() };
      };
      m = {
        id: `m${merged.size}`,
        source,
        target,
        transport: '',
        ports: [],
        connections: 0,
        bytes: 0,
        denied: false,
        alerts: [],
        query: '',
        ends: [end(source, e.ends[0]), end(target, e.ends[1])],
        members: 0,
        transports: new Set(),
      };
      merged.set(key, m);
    }
    m.members = (m.members ?? 0) + 1;
    m.transports.add(e.transport);
    for (const p of e.ports) if (!m.ports.includes(p)) m.ports.push(p);
    m.connections += e.connections;
    m.bytes += e.bytes;
    m.denied ||= e.denied;
    for (const a of e.alerts) if (!m.alerts.includes(a)) m.alerts.push(a);
  }
  const edges = [...merged.values()].map(({ transports, ...m }) => {
    if (m.members === undefined) return m;
    const ts = [...transports].sort();
    const ports = m.ports.sort((a, b) => a - b);
    return { ...m, transport: ts.join(','), ports, query: edgeQuery(m.ends[0], m.ends[1], ports, ts) };
  });
  return { nodes, edges };
}

/** What a layout reads of a graph: a Graph, or its plain copy in the layout worker (see layout.ts). */
export interface LayoutGraph {
  nodes: readonly Pick<MapNode, 'id' | 'parent' | 'kind'>[];
  edges: readonly Pick<MapEdge, 'source' | 'target' | 'connections'>[];
}

/** Above this many edges the map is drawn for size, not detail: see ServiceMap. */
export const LARGE_MAP_EDGES = 400;

/**
 * Positions for a large map in one pass, instead of a force layout whose iterations grow with the
 * square of the nodes (cose took seconds at ~1,000 edges and froze the page): the nodes of each
 * namespace in a square block, busiest first, the blocks in rows. Namespace nodes are compound
 * parents, placed by their children, so they get no position. `rowFactor` sets the row's width
 * (that many times the square root of the node count, in spacings): see fitBlocks.
 */
export function blockPositions(g: LayoutGraph, spacing = 90, rowFactor = 1.6): Record<string, { x: number; y: number }> {
  const degree = new Map<string, number>();
  for (const e of g.edges) {
    degree.set(e.source, (degree.get(e.source) ?? 0) + e.connections);
    degree.set(e.target, (degree.get(e.target) ?? 0) + e.connections);
  }
  const groups = new Map<string, LayoutGraph['nodes'][number][]>();
  for (const n of g.nodes) {
    if (n.kind === 'namespace' || n.kind === 'domain') continue;
    const k = n.parent ?? '';
    const list = groups.get(k);
    if (list) list.push(n);
    else groups.set(k, [n]);
  }
  const blocks = [...groups.entries()]
    .sort(([a, x], [b, y]) => y.length - x.length || (a < b ? -1 : 1))
    .map(([, list]) => list.sort((a, b) => (degree.get(b.id) ?? 0) - (degree.get(a.id) ?? 0) || (a.id < b.id ? -1 : 1)));
  const total = blocks.reduce((s, b) => s + b.length, 0);
  const rowWidth = Math.max(1, Math.ceil(Math.sqrt(total) * rowFactor)) * spacing;
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

/**
 * The block layout whose extent is closest to a canvas's shape (width / height): blocks are
 * whole namespaces, so the row width that fills a wide canvas is found by trying, not computed.
 * A map drawn to fit its canvas is then as large on screen as it can be.
 */
export function fitBlocks(g: LayoutGraph, aspect: number, spacing = 90): Record<string, { x: number; y: number }> {
  let best: Record<string, { x: number; y: number }> = {};
  let bestMiss = Number.POSITIVE_INFINITY;
  for (let f = 0.5; f <= 6; f += 0.25) {
    const pos = blockPositions(g, spacing, f);
    const ps = Object.values(pos);
    if (ps.length === 0) return pos;
    const w = Math.max(...ps.map((p) => p.x)) - Math.min(...ps.map((p) => p.x)) + spacing;
    const h = Math.max(...ps.map((p) => p.y)) - Math.min(...ps.map((p) => p.y)) + spacing;
    const miss = Math.abs(Math.log(w / h / aspect));
    if (miss < bestMiss - 1e-9) {
      best = pos;
      bestMiss = miss;
    }
  }
  return best;
}

/** A node label that may be drawn: where its node is on screen (px) and how much it matters. */
export interface LabelCandidate {
  id: string;
  x: number;
  y: number;
  text: string;
  weight: number;
}

/** A label's box on screen (px): left, top, width, height. */
export type LabelBox = [number, number, number, number];

export interface LabelOptions {
  /** The labels' font size on screen. */
  fontPx: number;
  /** The nodes' diameter on screen: the label hangs below it, and nodes are in the way of labels. */
  nodePx: number;
  /** The visible canvas: labels off it are not placed. */
  width: number;
  height: number;
  /** Drawn whatever the crowding (the hovered node and its neighbours). */
  forced: ReadonlySet<string>;
  /** Below this node diameter a map is a texture, not a diagram: only forced labels are drawn. */
  minNodePx?: number;
  /** Other text on the canvas that labels must leave readable (the WebGL map's namespace titles). */
  obstacles?: readonly LabelBox[];
}

/** Where a label hangs off its node: below first, as Cytoscape draws it by default. */
export type LabelSide = 'bottom' | 'right' | 'top' | 'left';
const SIDES: readonly LabelSide[] = ['bottom', 'right', 'top', 'left'];

export interface PlacedLabel {
  side: LabelSide;
  box: LabelBox;
}

/** A label's box from its text length: an estimate of a sans-serif line, wide enough to be safe. */
export function labelBox(c: LabelCandidate, fontPx: number, nodePx: number, side: LabelSide = 'bottom'): LabelBox {
  const w = c.text.length * fontPx * 0.62 + 4;
  const h = fontPx + 4;
  const r = nodePx / 2 + 2;
  switch (side) {
    case 'bottom':
      return [c.x - w / 2, c.y + r, w, h];
    case 'top':
      return [c.x - w / 2, c.y - r - h, w, h];
    case 'right':
      return [c.x + r, c.y - h / 2, w, h];
    case 'left':
      return [c.x - r - w, c.y - h / 2, w, h];
  }
}

function overlaps(a: LabelBox, b: LabelBox): boolean {
  return a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3];
}

/**
 * Level of detail for node labels: which to draw, and on which side of the node, so that none
 * covers another label or another node. Forced labels first, then by weight (the busiest nodes
 * keep theirs); a label with no free side is left out, so a crowded map shows few labels and
 * zooming in (nodes further apart on screen) shows more. A grid of cells keeps it linear in the
 * nodes: a 5,000-edge map has hundreds.
 */
export function placeLabels(cands: readonly LabelCandidate[], o: LabelOptions): Map<string, PlacedLabel> {
  const CELL = 64;
  const grid = new Map<string, LabelBox[]>();
  const cellsOf = (b: LabelBox): string[] => {
    const out: string[] = [];
    for (let cx = Math.floor(b[0] / CELL); cx <= Math.floor((b[0] + b[2]) / CELL); cx++)
      for (let cy = Math.floor(b[1] / CELL); cy <= Math.floor((b[1] + b[3]) / CELL); cy++) out.push(`${cx},${cy}`);
    return out;
  };
  const insert = (b: LabelBox): void => {
    for (const k of cellsOf(b)) {
      const l = grid.get(k);
      if (l) l.push(b);
      else grid.set(k, [b]);
    }
  };
  const free = (b: LabelBox, own: LabelBox | null): boolean => {
    for (const k of cellsOf(b)) for (const x of grid.get(k) ?? []) if (x !== own && overlaps(b, x)) return false;
    return true;
  };
  const onScreen = (b: LabelBox): boolean => b[0] >= 0 && b[0] + b[2] <= o.width && b[1] >= 0 && b[1] + b[3] <= o.height;
  for (const b of o.obstacles ?? []) insert(b);
  const bodies = new Map<string, LabelBox>();
  for (const c of cands) {
    const body: LabelBox = [c.x - o.nodePx / 2, c.y - o.nodePx / 2, o.nodePx, o.nodePx];
    bodies.set(c.id, body);
    insert(body);
  }
  const out = new Map<string, PlacedLabel>();
  const place = (c: LabelCandidate, force: boolean): void => {
    const own = bodies.get(c.id) ?? null;
    for (const side of SIDES) {
      const box = labelBox(c, o.fontPx, o.nodePx, side);
      if (onScreen(box) && free(box, own)) {
        out.set(c.id, { side, box });
        insert(box);
        return;
      }
    }
    if (!force) return;
    const box = labelBox(c, o.fontPx, o.nodePx);
    out.set(c.id, { side: 'bottom', box });
    insert(box);
  };
  for (const c of cands) if (o.forced.has(c.id)) place(c, true);
  if (o.nodePx < (o.minNodePx ?? 0)) return out;
  const rest = cands.filter((c) => !o.forced.has(c.id)).sort((a, b) => b.weight - a.weight || (a.id < b.id ? -1 : 1));
  for (const c of rest) place(c, false);
  return out;
}
