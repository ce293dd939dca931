/**
 * What the service map's two renderers share: Cytoscape (SVG-like canvas drawing, compound
 * namespaces, arrows and edge labels) for maps a person reads edge by edge, sigma.js (WebGL)
 * for the large ones. Either publishes the same data-* attributes on its host element, so
 * the browser tests click and read both the same way.
 */
import { fmtBytes, fmtCount } from '../lib/format';
import { type MapEdge, portsLabel } from '../lib/map';
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
] as const;
