/**
 * The service map's layouts as one function of plain data, so that the layout worker
 * (views/layout.worker.ts) runs them off the page's thread and Node tests run them as they are:
 * the one-pass block layout of large maps (fitBlocks), and for the others Cytoscape's force
 * layout (cose) run headless, whose positions the drawn map takes as a preset. A request and its
 * answer are typed arrays where they are large (edges, positions), so that they are transferred
 * to and from the worker rather than copied.
 */
import cytoscape from 'cytoscape';
import { fitBlocks, type LayoutGraph, type MapNode } from './map';

export type LayoutAlgorithm = 'blocks' | 'cose';

export interface LayoutRequest {
  algorithm: LayoutAlgorithm;
  /** The canvas (px): the layout fills its shape. */
  width: number;
  height: number;
  ids: string[];
  labels: string[];
  kinds: MapNode['kind'][];
  /** Index of each node's compound parent in `ids`, -1 for none. */
  parents: Int32Array;
  /** Source and target index of each edge, in pairs. */
  ends: Uint32Array;
  connections: Float64Array;
}

/** The node size and label font of the drawn map (views/mapView.ts), which the force layout spaces nodes by. */
const NODE = 22;
const FONT_PX = 12;

/** The request for a graph's layout: what a layout reads of it, and nothing of the drawing's own data. */
export function layoutRequest(
  g: { nodes: readonly Pick<MapNode, 'id' | 'parent' | 'kind' | 'label'>[]; edges: LayoutGraph['edges'] },
  algorithm: LayoutAlgorithm,
  width: number,
  height: number,
): LayoutRequest {
  const index = new Map(g.nodes.map((n, i) => [n.id, i]));
  const ends = new Uint32Array(g.edges.length * 2);
  const connections = new Float64Array(g.edges.length);
  let m = 0;
  for (const e of g.edges) {
    const s = index.get(e.source);
    const t = index.get(e.target);
    if (s === undefined || t === undefined) continue;
    ends[m * 2] = s;
    ends[m * 2 + 1] = t;
    connections[m++] = e.connections;
  }
  return {
    algorithm,
    width,
    height,
    ids: g.nodes.map((n) => n.id),
    labels: g.nodes.map((n) => n.label),
    kinds: g.nodes.map((n) => n.kind),
    parents: Int32Array.from(g.nodes, (n) => (n.parent === null ? -1 : (index.get(n.parent) ?? -1))),
    ends: ends.slice(0, m * 2),
    connections: connections.slice(0, m),
  };
}

/** The graph a request describes, as the layouts read it. */
function graphOf(r: LayoutRequest): LayoutGraph {
  const edges: { source: string; target: string; connections: number }[] = [];
  for (let i = 0; i < r.connections.length; i++) edges.push({ source: r.ids[r.ends[i * 2]], target: r.ids[r.ends[i * 2 + 1]], connections: r.connections[i] });
  return {
    nodes: r.ids.map((id, i) => ({ id, kind: r.kinds[i], parent: r.parents[i] >= 0 ? r.ids[r.parents[i]] : null })),
    edges,
  };
}

/** A small seeded generator (mulberry32): the same graph gets the same force layout. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Cytoscape's cose, headless, with the options the drawn map used when it ran cose itself. Nodes
 * start where Cytoscape starts them (all at the origin), and cose pushes coinciding nodes apart in
 * a random direction: Math.random is seeded for the run, so a graph is laid out the same way
 * every time. Without a renderer Cytoscape cannot measure labels, so a collapsed namespace's
 * node (the only label drawn during the layout) is given its label's estimated size.
 */
function cose(r: LayoutRequest): Record<string, { x: number; y: number }> {
  const elements: cytoscape.ElementDefinition[] = [];
  r.ids.forEach((id, i) => {
    const group = r.kinds[i] === 'group';
    const text = r.labels[i].length * FONT_PX * 0.66 + 4;
    elements.push({
      group: 'nodes',
      data: {
        id,
        kind: r.kinds[i],
        w: group ? Math.max(NODE * 2.2, text) : NODE,
        h: group ? NODE * 1.6 + FONT_PX + 6 : NODE,
        ...(r.parents[i] >= 0 ? { parent: r.ids[r.parents[i]] } : {}),
      },
    });
  });
  for (let i = 0; i < r.connections.length; i++)
    elements.push({ group: 'edges', data: { id: `e${i}`, source: r.ids[r.ends[i * 2]], target: r.ids[r.ends[i * 2 + 1]] } });
  const cy = cytoscape({
    headless: true,
    styleEnabled: true,
    elements,
    style: [
      { selector: 'node[w]', style: { width: 'data(w)', height: 'data(h)' } },
      { selector: 'node[kind = "namespace"], node[kind = "domain"]', style: { padding: '18px' } },
    ],
  });
  // cose packs disconnected parts in rows as wide as the canvas's shape, and a headless core is 1 x 1.
  const size = { width: Math.max(1, r.width), height: Math.max(1, r.height) };
  (cy as unknown as { size(): { width: number; height: number } }).size = () => size;
  const random = Math.random;
  Math.random = seeded(r.ids.length * 7919 + r.connections.length);
  try {
    cy.layout({
      name: 'cose',
      animate: false,
      fit: false,
      nodeDimensionsIncludeLabels: false,
      idealEdgeLength: () => 140,
      nodeRepulsion: () => 600_000,
      componentSpacing: 80,
      nestingFactor: 1.2,
      randomize: false,
    } as cytoscape.LayoutOptions).run();
  } finally {
    Math.random = random;
  }
  const out: Record<string, { x: number; y: number }> = {};
  cy.nodes().forEach((n) => {
    // Compound parents are placed by their children.
    if (n.isParent()) return;
    const p = n.position();
    out[n.id()] = { x: p.x, y: p.y };
  });
  cy.destroy();
  return out;
}

/** Positions as x, y pairs in the request's node order; NaN for nodes placed by others (compound parents). */
export function computeLayout(r: LayoutRequest): Float64Array {
  const pos = r.algorithm === 'cose' ? cose(r) : fitBlocks(graphOf(r), r.width / Math.max(1, r.height));
  const xy = new Float64Array(r.ids.length * 2).fill(Number.NaN);
  r.ids.forEach((id, i) => {
    const p = pos[id];
    if (!p) return;
    xy[i * 2] = p.x;
    xy[i * 2 + 1] = p.y;
  });
  return xy;
}

/** The positions of a computed layout by node id. */
export function positionsOf(ids: readonly string[], xy: Float64Array): Record<string, { x: number; y: number }> {
  const out: Record<string, { x: number; y: number }> = {};
  ids.forEach((id, i) => {
    const x = xy[i * 2];
    const y = xy[i * 2 + 1];
    if (!Number.isNaN(x) && !Number.isNaN(y)) out[id] = { x, y };
  });
  return out;
}
