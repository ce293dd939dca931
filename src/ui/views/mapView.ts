/**
 * What the service map's two renderers share: Cytoscape (SVG-like canvas drawing, compound
 * namespaces, arrows and edge labels) for maps a person reads edge by edge, sigma.js (WebGL)
 * for the large ones. Either publishes the same data-* attributes on its host element, so
 * the browser tests click and read both the same way.
 */
import { fmtBytes, fmtCount } from '../lib/format';
import { type LabelCandidate, type MapEdge, type PlacedLabel, portsLabel } from '../lib/map';
import type { MapSelection } from './MapPanel';

export interface MapCallbacks {
  /** A collapsed namespace or domain was clicked: expand it. */
  expand(key: string): void;
  /** An expanded namespace or domain was clicked: collapse it. */
  collapse(key: string): void;
  select(s: MapSelection): void;
  /** When the edges, or the click that redraws them, arrived (performance.now()): the drawing's time counts from it. */
  since(): number;
}

export interface MapView {
  /** The selection made off the canvas (the panel, the table) drawn on it. */
  highlight(s: MapSelection | null): void;
  destroy(): void;
}

/** Node labels are drawn at this size on screen whatever the zoom: readable, or left out. */
export const LABEL_PX = 12;
export const NODE_SIZE = 22;
/** Nodes drawn smaller than this (px) are too small to tell apart: only hovered labels then. */
export const MIN_LABELLED_NODE_PX = 6;

export function edgeLabel(e: MapEdge): string {
  return `${e.transport}/${portsLabel(e.ports)} · ${fmtCount(e.connections)} conn · ${fmtBytes(e.bytes)}`;
}

/** What a map's data-* attributes say; removed when its drawing is destroyed. */
export const PUBLISHED = [
  'edgePoints',
  'nodeLabels',
  'nodePoints',
  'groupPoints',
  'groupBoxes',
  'renderMs',
  'drawnEdges',
  'renderer',
  'zoom',
  'layout',
  'layoutMs',
  'layoutThread',
  'buildMs',
  'waitedMs',
  'timings',
] as const;

/**
 * The placed node labels and every node's point on screen, as data-* attributes, so that a test
 * reads the level of detail of either renderer the same way.
 */
export function publishLabels(el: HTMLElement, cands: readonly LabelCandidate[], placed: ReadonlyMap<string, PlacedLabel>): void {
  const labels: Record<string, { text: string; side: string; box: number[] }> = {};
  for (const c of cands) {
    const p = placed.get(c.id);
    if (p) labels[c.id] = { text: c.text, side: p.side, box: p.box.map((v) => Math.round(v)) };
  }
  el.dataset.nodeLabels = JSON.stringify(labels);
  el.dataset.nodePoints = JSON.stringify(Object.fromEntries(cands.map((c) => [c.id, [Math.round(c.x), Math.round(c.y)]])));
}
