/**
 * The service map drawn with sigma.js (WebGL) from a graphology graph: a large map, thousands of
 * edges, drawn in one WebGL pass where Cytoscape spent seconds styling and painting each edge
 * (5,000 edges: 6-11 s to a first frame on this machine, and a frozen page meanwhile).
 * Namespaces and domains are boxes drawn under the nodes (sigma has no compound nodes), their
 * title a button that collapses them; a collapsed namespace is a large node that expands on a
 * click. Node labels follow the same level of detail as the Cytoscape map (placeLabels), and
 * the hovered or selected edge is drawn over the others with its label.
 */
import GraphologyGraph from 'graphology';
import Sigma from 'sigma';
import { EdgeRectangleProgram } from 'sigma/rendering';
import type { Settings } from 'sigma/settings';
import type { NodeDisplayData, PartialButFor } from 'sigma/types';
import { fmtCount } from '../lib/format';
import { type Graph, groupKey, type LabelBox, type LabelCandidate, labelBox, type MapNode, type PlacedLabel, placeLabels } from '../lib/map';
import type { Layout } from './mapLayout';
import type { MapSelection } from './MapPanel';
import { edgeLabel, LABEL_PX, type MapCallbacks, type MapView, MIN_LABELLED_NODE_PX, NODE_SIZE, publishLabels } from './mapView';

interface NodeAttrs {
  x: number;
  y: number;
  size: number;
  color: string;
  label: string;
  /** Every node goes through the label drawing, which draws only the labels placeLabels placed. */
  forceLabel: true;
}

interface EdgeAttrs {
  size: number;
  color: string;
}

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const COLORS: Record<MapNode['kind'], string> = {
  workload: '#2563eb',
  service: '#0d9488',
  address: '#64748b',
  group: '#60a5fa',
  namespace: '#eff6ff',
  domain: '#f1f5f9',
};
// Opaque: sigma's WebGL layers are composited as premultiplied alpha, so a translucent grey
// would come out lighter than the white under it, and the edges would vanish.
const EDGE = '#cbd5e1';
const EDGE_DENIED = '#ea580c';
const EDGE_ALERT = '#dc2626';
/** Space between a namespace's nodes and its box, in graph units (as Cytoscape's compound padding). */
const BOX_PAD = 18;

function roundRect(ctx: CanvasRenderingContext2D, x: number, y: number, w: number, h: number, r: number): void {
  ctx.beginPath();
  ctx.roundRect(x, y, w, h, r);
}

/** Draws a placed label: its box as placeLabels reserved it, the text inside. */
function drawLabelBox(ctx: CanvasRenderingContext2D, text: string, box: LabelBox, bold = false): void {
  ctx.fillStyle = 'rgba(248,250,252,0.85)';
  roundRect(ctx, box[0], box[1], box[2], box[3], 3);
  ctx.fill();
  ctx.fillStyle = '#0f172a';
  ctx.font = `${bold ? 'bold ' : ''}${LABEL_PX}px ${FONT}`;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, box[0] + box[2] / 2, box[1] + box[3] / 2 + 0.5);
}

/** The map drawn with WebGL, or null when the browser has none (the caller draws it with Cytoscape). */
export function drawWebgl(el: HTMLElement, graph: Graph, layout: Layout, cb: MapCallbacks): MapView | null {
  const building = performance.now();
  // The layout fills the canvas (computed for its shape): sigma fits the graph's extent into it.
  const positions = layout.positions;
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const edgeById = new Map(graph.edges.map((e) => [e.id, e]));
  const g = new GraphologyGraph<NodeAttrs, EdgeAttrs>({ multi: true, type: 'directed', allowSelfLoops: true });
  const parents = new Map<string, { node: MapNode; children: string[] }>();
  for (const n of graph.nodes) if (n.kind === 'namespace' || n.kind === 'domain') parents.set(n.id, { node: n, children: [] });
  for (const n of graph.nodes) {
    const p = positions[n.id];
    if (!p) continue;
    const group = n.kind === 'group';
    g.addNode(n.id, {
      // Graph y grows upwards in sigma: the blocks keep the order they have in the Cytoscape map.
      x: p.x,
      y: -p.y,
      size: group ? NODE_SIZE : NODE_SIZE / 2,
      color: COLORS[n.kind],
      label: group ? `${n.label} (${fmtCount(n.members ?? 0)})` : n.label,
      forceLabel: true,
    });
    if (n.parent) parents.get(n.parent)?.children.push(n.id);
  }
  // Drawn in the order added: edges with alerts last, over the others, then denied ones under them.
  const rank = (e: Graph['edges'][number]): number => (e.alerts.length ? 2 : e.denied ? 1 : 0);
  for (const e of [...graph.edges].sort((a, b) => rank(a) - rank(b))) {
    if (!g.hasNode(e.source) || !g.hasNode(e.target)) continue;
    g.addEdgeWithKey(e.id, e.source, e.target, {
      size: 0.5 + Math.log2(1 + e.connections) / 2,
      color: e.alerts.length ? EDGE_ALERT : e.denied ? EDGE_DENIED : EDGE,
    });
  }

  // Which labels are drawn, and where: recomputed after every gesture and hover (relabel).
  let placed = new Map<string, PlacedLabel>();
  let hoveredNodes = new Set<string>();
  let hoveredEdge: string | null = null;
  let selected: MapSelection | null = null;
  const drawNodeLabel = (ctx: CanvasRenderingContext2D, data: PartialButFor<NodeDisplayData, 'x' | 'y' | 'size' | 'label' | 'color'>): void => {
    const key = (data as { key?: string }).key ?? '';
    const p = placed.get(key);
    if (!p || !data.label) return;
    // The box placeLabels reserved, moved to where sigma draws the node now (a frame of an animated zoom).
    const box = labelBox({ id: key, x: data.x, y: data.y, text: data.label, weight: 0 }, LABEL_PX, data.size * 2, p.side);
    drawLabelBox(ctx, data.label, box, byId.get(key)?.kind === 'group');
  };

  let renderer: Sigma<NodeAttrs, EdgeAttrs>;
  let graphBuilt = building;
  try {
    const settings: Partial<Settings<NodeAttrs, EdgeAttrs>> = {
      // Sizes in graph units, scaled with the zoom as Cytoscape scales them.
      itemSizesReference: 'positions',
      zoomToSizeRatioFunction: (r) => r,
      // Labels: only the ones placed (every node is forceLabel, the drawing function decides).
      labelRenderedSizeThreshold: Number.POSITIVE_INFINITY,
      defaultDrawNodeLabel: drawNodeLabel,
      defaultDrawNodeHover: () => undefined,
      labelFont: FONT,
      labelSize: LABEL_PX,
      // Edges are picked from the drawn geometry (edgeNear), not by sigma: its edge events draw
      // every edge a second time into a picking buffer, work the first frame waits for.
      enableEdgeEvents: false,
      minEdgeThickness: 1,
      stagePadding: 40,
      hideEdgesOnMove: false,
      // No arrows on a large map: sigma compiles every edge program it has at start, and the
      // arrow's two (and their picking twins) cost the first frame time on a software GPU.
      edgeProgramClasses: { arrow: EdgeRectangleProgram },
    };
    graphBuilt = performance.now();
    renderer = new Sigma(g, el, settings);
  } catch {
    // No WebGL (sigma fails to get a context), or one that cannot be used (a lost or blocklisted GPU).
    el.replaceChildren();
    return null;
  }
  const sigmaBuilt = performance.now();
  el.dataset.buildMs = String(Math.round(sigmaBuilt - building));
  el.dataset.waitedMs = String(Math.round(building - cb.since()));

  // Under the edges: the namespace boxes. Over everything but the mouse layer: the hovered and selected edges.
  renderer.createCanvasContext('groups');
  renderer.createCanvasContext('highlight');
  const canvases = renderer.getCanvases();
  canvases.edges.before(canvases.groups);
  canvases.labels.before(canvases.highlight);
  // Sized as sigma sizes its own 2D layers (a resize(true) would reallocate the WebGL ones too).
  const { width, height } = renderer.getDimensions();
  const ratio = window.devicePixelRatio || 1;
  for (const c of [canvases.groups, canvases.highlight]) {
    c.style.width = `${width}px`;
    c.style.height = `${height}px`;
    c.setAttribute('width', `${width * ratio}px`);
    c.setAttribute('height', `${height * ratio}px`);
    if (ratio !== 1) c.getContext('2d')?.scale(ratio, ratio);
  }
  const groupsCtx = canvases.groups.getContext('2d') as CanvasRenderingContext2D;
  const highlightCtx = canvases.highlight.getContext('2d') as CanvasRenderingContext2D;

  const view = (id: string): { x: number; y: number } => {
    const a = g.getNodeAttributes(id);
    return renderer.graphToViewport({ x: a.x, y: a.y });
  };
  /** Graph units to screen px at the current zoom. */
  const scale = (): number => renderer.scaleSize(1);

  /** Where each namespace's box and its title are on screen now: a click on a title collapses its namespace. */
  interface GroupBox {
    key: string;
    domain: boolean;
    text: string;
    box: LabelBox;
    title: LabelBox;
  }
  const groupBoxes = (): GroupBox[] => {
    const s = scale();
    const pad = (BOX_PAD + NODE_SIZE / 2) * s;
    groupsCtx.font = `bold ${LABEL_PX}px ${FONT}`;
    const out: GroupBox[] = [];
    for (const { node, children } of parents.values()) {
      if (children.length === 0) continue;
      let [x0, y0, x1, y1] = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
      for (const c of children) {
        const p = view(c);
        x0 = Math.min(x0, p.x - pad);
        y0 = Math.min(y0, p.y - pad);
        x1 = Math.max(x1, p.x + pad);
        y1 = Math.max(y1, p.y + pad);
      }
      const text = `▾ ${node.label}`;
      const w = groupsCtx.measureText(text).width + 8;
      out.push({
        key: groupKey(node) ?? node.label,
        domain: node.kind === 'domain',
        text,
        box: [x0, y0, x1 - x0, y1 - y0],
        title: [x0, y0 - LABEL_PX - 6, w, LABEL_PX + 6],
      });
    }
    return out;
  };
  let headers: GroupBox[] = [];
  const drawGroups = (): void => {
    const { width, height } = renderer.getDimensions();
    groupsCtx.clearRect(0, 0, width, height);
    headers = groupBoxes();
    for (const { domain, box } of headers) {
      groupsCtx.fillStyle = domain ? 'rgba(241,245,249,0.6)' : 'rgba(239,246,255,0.6)';
      groupsCtx.strokeStyle = domain ? '#94a3b8' : '#93c5fd';
      groupsCtx.lineWidth = 2;
      groupsCtx.setLineDash(domain ? [6, 4] : []);
      roundRect(groupsCtx, box[0], box[1], box[2], box[3], 6);
      groupsCtx.fill();
      groupsCtx.stroke();
      groupsCtx.setLineDash([]);
    }
    el.dataset.groupBoxes = JSON.stringify(Object.fromEntries(headers.map((h) => [h.key, h.title.map((v) => Math.round(v))])));
  };

  /** The namespaces' titles, and the hovered and the selected edge over the others, with their labels. */
  const drawHighlight = (): void => {
    const { width, height } = renderer.getDimensions();
    highlightCtx.clearRect(0, 0, width, height);
    // The namespaces' titles, over the edges that cross them.
    for (const { text, title } of headers) {
      highlightCtx.fillStyle = 'rgba(248,250,252,0.85)';
      roundRect(highlightCtx, title[0], title[1], title[2], title[3], 3);
      highlightCtx.fill();
      highlightCtx.font = `bold ${LABEL_PX}px ${FONT}`;
      highlightCtx.fillStyle = '#1e3a8a';
      highlightCtx.textAlign = 'left';
      highlightCtx.textBaseline = 'middle';
      highlightCtx.fillText(text, title[0] + 4, title[1] + title[3] / 2);
    }
    const ids = [hoveredEdge, selected?.kind === 'edge' ? selected.id : null].filter((x): x is string => x !== null && g.hasEdge(x));
    for (const id of new Set(ids)) {
      const e = edgeById.get(id);
      if (!e) continue;
      const a = view(e.source);
      const b = view(e.target);
      highlightCtx.strokeStyle = e.alerts.length ? '#dc2626' : e.denied ? '#ea580c' : '#2563eb';
      highlightCtx.lineWidth = 3;
      highlightCtx.beginPath();
      highlightCtx.moveTo(a.x, a.y);
      highlightCtx.lineTo(b.x, b.y);
      highlightCtx.stroke();
      const text = edgeLabel(e);
      highlightCtx.font = `9px ${FONT}`;
      const w = highlightCtx.measureText(text).width + 6;
      const mx = (a.x + b.x) / 2;
      const my = (a.y + b.y) / 2;
      highlightCtx.fillStyle = 'rgba(255,255,255,0.9)';
      roundRect(highlightCtx, mx - w / 2, my - 7, w, 14, 3);
      highlightCtx.fill();
      highlightCtx.fillStyle = '#0f172a';
      highlightCtx.textAlign = 'center';
      highlightCtx.textBaseline = 'middle';
      highlightCtx.fillText(text, mx, my);
    }
  };
  renderer.on('afterRender', () => {
    drawGroups();
    drawHighlight();
  });

  const weight = new Map<string, number>();
  for (const e of graph.edges) {
    weight.set(e.source, (weight.get(e.source) ?? 0) + e.connections);
    weight.set(e.target, (weight.get(e.target) ?? 0) + e.connections);
  }
  const groupIds = graph.nodes.filter((n) => n.kind === 'group' && g.hasNode(n.id)).map((n) => n.id);
  const ends = graph.nodes.filter((n) => n.kind !== 'group' && n.kind !== 'namespace' && n.kind !== 'domain' && g.hasNode(n.id)).map((n) => n.id);
  /**
   * A point on each edge where a click picks the edge: its midpoint, or when a node is drawn
   * there (blocks put other nodes between the ends of many edges), the point nearest to the
   * middle that no node covers.
   */
  const edgePoints = (nodes: readonly LabelCandidate[], s: number): Record<string, [number, number]> => {
    const CELL = 32;
    const grid = new Map<string, { x: number; y: number; r: number }[]>();
    for (const n of nodes) {
      const r = g.getNodeAttribute(n.id, 'size') * s + 4;
      for (let cx = Math.floor((n.x - r) / CELL); cx <= Math.floor((n.x + r) / CELL); cx++)
        for (let cy = Math.floor((n.y - r) / CELL); cy <= Math.floor((n.y + r) / CELL); cy++) {
          const k = `${cx},${cy}`;
          const l = grid.get(k);
          if (l) l.push({ x: n.x, y: n.y, r });
          else grid.set(k, [{ x: n.x, y: n.y, r }]);
        }
    }
    const clear = (x: number, y: number): boolean =>
      (grid.get(`${Math.floor(x / CELL)},${Math.floor(y / CELL)}`) ?? []).every((n) => Math.hypot(n.x - x, n.y - y) > n.r);
    const at = new Map(nodes.map((n) => [n.id, n]));
    const pts: Record<string, [number, number]> = {};
    g.forEachEdge((id, _a, source, target) => {
      const a = at.get(source) ?? view(source);
      const b = at.get(target) ?? view(target);
      let p: [number, number] = [(a.x + b.x) / 2, (a.y + b.y) / 2];
      for (let k = 0; k <= 14; k++) {
        const t = 0.5 + (k % 2 ? 1 : -1) * Math.ceil(k / 2) * 0.025;
        const x = a.x + (b.x - a.x) * t;
        const y = a.y + (b.y - a.y) * t;
        if (clear(x, y)) {
          p = [x, y];
          break;
        }
      }
      pts[id] = [Math.round(p[0]), Math.round(p[1])];
    });
    return pts;
  };
  const relabel = (): void => {
    const s = scale();
    const candidate = (id: string): LabelCandidate => {
      const p = view(id);
      return { id, x: p.x, y: p.y, text: g.getNodeAttribute(id, 'label'), weight: weight.get(id) ?? 0 };
    };
    const groupCands = groupIds.map(candidate);
    const cands = ends.map(candidate);
    const { width, height } = renderer.getDimensions();
    // Collapsed namespaces are always labelled (there are few, and they are what a click expands).
    placed = placeLabels([...groupCands, ...cands], {
      fontPx: LABEL_PX,
      nodePx: NODE_SIZE * s,
      width,
      height,
      forced: new Set([...hoveredNodes, ...groupIds]),
      minNodePx: MIN_LABELLED_NODE_PX,
      // The namespaces' titles stay readable: node labels go around them.
      obstacles: groupBoxes().map((b) => b.title),
    });
    renderer.scheduleRender();
    publishLabels(el, cands, placed);
    el.dataset.groupPoints = JSON.stringify(
      Object.fromEntries(groupCands.map((c) => [groupKey(byId.get(c.id) as MapNode) ?? c.id, [Math.round(c.x), Math.round(c.y)]])),
    );
    // Comparable with Cytoscape's zoom: screen px per graph unit.
    el.dataset.zoom = s.toFixed(3);
    el.dataset.edgePoints = JSON.stringify(edgePoints([...groupCands, ...cands], s));
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  const later = (): void => {
    clearTimeout(timer);
    // After the gesture: a wheel or drag moves the camera every frame.
    timer = setTimeout(relabel, 80);
  };
  renderer.getCamera().on('updated', later);
  renderer.on('resize', later);

  const hover = (ids: string[]): void => {
    hoveredNodes = new Set(ids);
    relabel();
  };
  let hoveredNode: string | null = null;
  renderer.on('enterNode', ({ node }) => {
    hoveredNode = node;
    hoveredEdge = null;
    el.style.cursor = 'pointer';
    hover([node, ...g.neighbors(node)]);
  });
  renderer.on('leaveNode', () => {
    hoveredNode = null;
    el.style.cursor = '';
    hover([]);
  });
  renderer.on('clickNode', ({ node }) => {
    const n = byId.get(node);
    if (!n) return;
    if (n.kind === 'group') cb.expand(groupKey(n) ?? n.label);
    else cb.select({ kind: 'node', id: node });
  });
  const headerAt = (x: number, y: number): string | null =>
    headers.find(({ title: b }) => x >= b[0] && x <= b[0] + b[2] && y >= b[1] && y <= b[1] + b[3])?.key ?? null;
  /**
   * The edge drawn nearest to a point, within a few pixels: a click or a hover beside a line one
   * pixel wide still means the edge.
   */
  const edgeNear = (x: number, y: number, within = 5): string | null => {
    const at = new Map<string, { x: number; y: number }>();
    g.forEachNode((id) => {
      at.set(id, view(id));
    });
    let best: string | null = null;
    let bestD = within;
    g.forEachEdge((id, _a, source, target) => {
      const a = at.get(source) as { x: number; y: number };
      const b = at.get(target) as { x: number; y: number };
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const len2 = dx * dx + dy * dy;
      const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((x - a.x) * dx + (y - a.y) * dy) / len2));
      const d = Math.hypot(a.x + t * dx - x, a.y + t * dy - y);
      if (d <= bestD) {
        best = id;
        bestD = d;
      }
    });
    return best;
  };
  renderer.on('clickStage', ({ event }) => {
    const key = headerAt(event.x, event.y);
    if (key !== null) {
      cb.collapse(key);
      return;
    }
    const edge = edgeNear(event.x, event.y);
    if (edge !== null) cb.select({ kind: 'edge', id: edge });
  });
  // The hovered edge: looked up once a frame at most, after sigma has said whether a node is under
  // the pointer (a node over an edge is the one hovered).
  let pointer: { x: number; y: number } | null = null;
  let hoverFrame = 0;
  const hoverEdge = (): void => {
    hoverFrame = 0;
    if (hoveredNode !== null || pointer === null) return;
    const { width, height } = renderer.getDimensions();
    const { x, y } = pointer;
    const inside = x >= 0 && y >= 0 && x <= width && y <= height;
    const header = inside ? headerAt(x, y) : null;
    const edge = inside && header === null ? edgeNear(x, y) : null;
    if (edge !== hoveredEdge) {
      hoveredEdge = edge;
      hover(edge === null ? [] : g.extremities(edge));
    }
    el.style.cursor = edge !== null || header !== null ? 'pointer' : '';
  };
  renderer.on('moveBody', ({ event }) => {
    pointer = { x: event.x, y: event.y };
    if (!hoverFrame) hoverFrame = requestAnimationFrame(hoverEdge);
  });

  relabel();
  drawGroups();
  const labelled = performance.now();
  // The constructor drew the first frame: its time is taken when the browser has shown it, at the
  // next frame (the frame's commit waits for the GPU to draw, and on a software GPU that is long).
  let frame = requestAnimationFrame(() => {
    frame = requestAnimationFrame(() => {
      frame = 0;
      shown();
    });
  });
  const shown = (): void => {
    const now = performance.now();
    el.dataset.renderMs = String(Math.round(now - cb.since()));
    // Where the time to a first frame went (ms): waiting for the drawing to start (the page's own
    // work and the layout), building the graphology graph, sigma's constructor (WebGL contexts,
    // shader programs, the first render), the labels and namespace boxes, the frame's commit.
    el.dataset.timings = JSON.stringify(
      Object.fromEntries(
        Object.entries({
          waited: building - cb.since(),
          layout: layout.ms,
          graph: graphBuilt - building,
          sigma: sigmaBuilt - graphBuilt,
          labels: labelled - sigmaBuilt,
          frame: now - labelled,
        }).map(([k, v]) => [k, Math.round(v)]),
      ),
    );
    el.dataset.layout = layout.algorithm;
    el.dataset.renderer = 'webgl';
    el.dataset.drawnEdges = String(g.size);
  };
  return {
    highlight(sel) {
      selected = sel;
      drawHighlight();
    },
    destroy() {
      clearTimeout(timer);
      if (frame) cancelAnimationFrame(frame);
      if (hoverFrame) cancelAnimationFrame(hoverFrame);
      renderer.kill();
      el.style.cursor = '';
    },
  };
}
