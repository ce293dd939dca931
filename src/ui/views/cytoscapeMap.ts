/**
 * The service map drawn with Cytoscape: namespaces and domains as compound nodes, arrows and
 * edge labels, a force layout (cose, computed off the page's thread: mapLayout.ts) given as a
 * preset. Above LARGE_MAP_EDGES it is what the map falls back to when the browser has no WebGL:
 * straight lines without labels, the one-pass block layout.
 */
import cytoscape from 'cytoscape';
import { fmtCount } from '../lib/format';
import { type Graph, groupKey, type LabelCandidate, LARGE_MAP_EDGES, placeLabels } from '../lib/map';
import type { Layout } from './mapLayout';
import { edgeLabel, LABEL_PX, type MapCallbacks, type MapView, MIN_LABELLED_NODE_PX, NODE_SIZE, publishLabels } from './mapView';

export function drawCytoscape(el: HTMLElement, graph: Graph, layout: Layout, cb: MapCallbacks): MapView {
  // Level of detail: a large map draws its edges without labels (a hovered or selected edge shows
  // its own) and with straight haystack lines instead of bezier curves and arrows.
  const large = graph.edges.length > LARGE_MAP_EDGES;
  const building = performance.now();
  const cy = cytoscape({
    container: el,
    elements: [
      ...graph.nodes.map((n) => ({
        group: 'nodes' as const,
        data: {
          id: n.id,
          label: n.kind === 'group' ? `${n.label} (${fmtCount(n.members ?? 0)})` : n.label,
          kind: n.kind,
          ns: groupKey(n) ?? '',
          fs: LABEL_PX,
          tm: 2,
          ...(n.parent ? { parent: n.parent } : {}),
        },
      })),
      ...graph.edges.map((e) => ({
        group: 'edges' as const,
        data: { id: e.id, source: e.source, target: e.target, label: edgeLabel(e), width: 1 + Math.log2(1 + e.connections), query: e.query },
        classes: [e.alerts.length ? 'alert' : '', e.denied ? 'denied' : ''].filter(Boolean).join(' '),
      })),
    ],
    style: [
      {
        selector: 'node',
        style: {
          // Labels are switched on per node (class lbl) by placeLabels; their size follows the zoom.
          label: '',
          'font-size': 'data(fs)',
          'min-zoomed-font-size': 0,
          'text-valign': 'bottom',
          'text-margin-y': (n: cytoscape.NodeSingular) => Number(n.data('tm')),
          color: '#0f172a',
          'background-color': '#2563eb',
          width: NODE_SIZE,
          height: NODE_SIZE,
        },
      },
      {
        selector: 'node.lbl',
        style: { label: 'data(label)', 'text-background-color': '#f8fafc', 'text-background-opacity': 0.85, 'text-background-shape': 'roundrectangle' },
      },
      { selector: 'node.lbl-top', style: { 'text-valign': 'top', 'text-margin-y': (n: cytoscape.NodeSingular) => -Number(n.data('tm')) } },
      {
        selector: 'node.lbl-right',
        style: { 'text-valign': 'center', 'text-halign': 'right', 'text-margin-y': 0, 'text-margin-x': (n: cytoscape.NodeSingular) => Number(n.data('tm')) },
      },
      {
        selector: 'node.lbl-left',
        style: { 'text-valign': 'center', 'text-halign': 'left', 'text-margin-y': 0, 'text-margin-x': (n: cytoscape.NodeSingular) => -Number(n.data('tm')) },
      },
      { selector: 'node[kind = "address"]', style: { 'background-color': '#64748b', shape: 'round-rectangle' } },
      { selector: 'node[kind = "service"]', style: { 'background-color': '#0d9488', shape: 'diamond' } },
      {
        // A collapsed namespace: always labelled (there are few), a click expands it.
        selector: 'node[kind = "group"]',
        style: {
          label: 'data(label)',
          'background-color': '#dbeafe',
          'border-color': '#2563eb',
          'border-width': 2,
          shape: 'round-rectangle',
          width: NODE_SIZE * 2.2,
          height: NODE_SIZE * 1.6,
          'font-weight': 'bold',
          'text-background-color': '#f8fafc',
          'text-background-opacity': 0.85,
        },
      },
      {
        // External destinations under one registered domain: a compound like a namespace, in grey.
        selector: 'node[kind = "domain"]',
        style: {
          'background-color': '#f1f5f9',
          'background-opacity': 0.6,
          'border-color': '#94a3b8',
          'border-width': 2,
          'border-style': 'dashed',
          label: 'data(label)',
          'text-valign': 'top',
          'text-margin-y': 0,
          'font-weight': 'bold',
          shape: 'round-rectangle',
          padding: '18px',
        },
      },
      {
        selector: 'node[kind = "namespace"]',
        style: {
          'background-color': '#eff6ff',
          'background-opacity': 0.6,
          'border-color': '#93c5fd',
          'border-width': 2,
          label: 'data(label)',
          'text-valign': 'top',
          'text-margin-y': 0,
          'font-weight': 'bold',
          shape: 'round-rectangle',
          padding: '18px',
        },
      },
      // A large map's edges get only what they draw (straight haystack lines, no label or arrow):
      // Cytoscape applies every property of every matching rule to each of thousands of edges,
      // and that, not the layout, is where drawing a 5,000-edge map spends its time.
      large
        ? { selector: 'edge', style: { width: 'data(width)', 'curve-style': 'haystack', 'haystack-radius': 0, 'line-color': '#94a3b8', opacity: 0.55 } }
        : {
            selector: 'edge',
            style: {
              width: 'data(width)',
              'curve-style': 'bezier',
              'target-arrow-shape': 'triangle',
              'line-color': '#94a3b8',
              'target-arrow-color': '#94a3b8',
              label: 'data(label)',
              'font-size': 9,
              'min-zoomed-font-size': 7,
              'text-rotation': 'autorotate',
              'text-background-color': '#fff',
              'text-background-opacity': 0.8,
            },
          },
      { selector: 'edge.denied', style: { 'line-color': '#ea580c', 'target-arrow-color': '#ea580c', 'line-style': 'dashed' } },
      { selector: 'edge.alert', style: { 'line-color': '#dc2626', 'target-arrow-color': '#dc2626' } },
      { selector: 'edge:selected', style: { 'overlay-opacity': 0.15, 'overlay-color': '#2563eb' } },
      ...(large
        ? ([
            {
              selector: 'edge.hover, edge:selected',
              style: {
                label: 'data(label)',
                opacity: 1,
                'font-size': 9,
                'text-rotation': 'autorotate',
                'text-background-color': '#fff',
                'text-background-opacity': 0.8,
              },
            },
          ] as cytoscape.StylesheetJsonBlock[])
        : []),
    ],
    // Computed beforehand, off the page's thread; compound parents are placed by their children.
    layout: { name: 'preset', positions: layout.positions, fit: true, padding: 30 } as cytoscape.LayoutOptions,
    // Large maps: a cached bitmap while panning and zooming, edges hidden meanwhile.
    textureOnViewport: large,
    hideEdgesOnViewport: large,
    wheelSensitivity: 0.3,
  });
  el.dataset.buildMs = String(Math.round(performance.now() - building));
  el.dataset.waitedMs = String(Math.round(building - cb.since()));
  // Where each edge is drawn, so that an end-to-end test can click the canvas where a person would.
  const publish = (): void => {
    const pts: Record<string, [number, number]> = {};
    cy.edges().forEach((e) => {
      const p = e.renderedMidpoint();
      pts[e.id()] = [Math.round(p.x), Math.round(p.y)];
    });
    el.dataset.edgePoints = JSON.stringify(pts);
  };
  // Midpoints exist once the renderer has drawn the edges: publish after a frame is drawn.
  let pending = false;
  let drawn = false;
  cy.on('render', () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      if (cy.destroyed()) return;
      if (!drawn) {
        drawn = true;
        // From the edges' arrival to the first frame shown (the next frame: this one's commit
        // has happened then): what a person waits for.
        requestAnimationFrame(() => {
          if (cy.destroyed()) return;
          el.dataset.renderMs = String(Math.round(performance.now() - cb.since()));
          el.dataset.layout = layout.algorithm;
          // Which drawing the figures are of (a test waits for the map it asked for, not the last one).
          el.dataset.drawnEdges = String(graph.edges.length);
        });
      }
      publish();
    });
  });
  // Level of detail for node labels: placed on screen without collisions after every zoom or pan,
  // and the hovered node (or edge) with its neighbours labelled whatever the crowding.
  const weight = new Map<string, number>();
  for (const e of graph.edges) {
    weight.set(e.source, (weight.get(e.source) ?? 0) + e.connections);
    weight.set(e.target, (weight.get(e.target) ?? 0) + e.connections);
  }
  const ends = cy.nodes('[kind != "namespace"][kind != "domain"][kind != "group"]');
  let hovered = new Set<string>();
  let lastZoom = 1;
  const relabel = (): void => {
    if (cy.destroyed()) return;
    const zoom = cy.zoom();
    const cands: LabelCandidate[] = ends.map((n) => {
      const p = n.renderedPosition();
      return { id: n.id(), x: p.x, y: p.y, text: String(n.data('label')), weight: weight.get(n.id()) ?? 0 };
    });
    const placed = placeLabels(cands, {
      fontPx: LABEL_PX,
      nodePx: NODE_SIZE * zoom,
      width: cy.width(),
      height: cy.height(),
      forced: hovered,
      minNodePx: MIN_LABELLED_NODE_PX,
    });
    cy.batch(() => {
      if (zoom !== lastZoom) cy.nodes().data({ fs: LABEL_PX / zoom, tm: 2 / zoom });
      ends.forEach((n) => {
        const p = placed.get(n.id());
        const want = p ? `lbl${p.side === 'bottom' ? '' : ` lbl-${p.side}`}` : '';
        if (n.data('lbl') === want) return;
        n.data('lbl', want);
        n.classes(want);
      });
    });
    lastZoom = zoom;
    publishLabels(el, cands, placed);
    const groups: Record<string, [number, number]> = {};
    cy.nodes('[kind = "group"]').forEach((n) => {
      const p = n.renderedPosition();
      groups[String(n.data('ns'))] = [Math.round(p.x), Math.round(p.y)];
    });
    el.dataset.groupPoints = JSON.stringify(groups);
    el.dataset.zoom = zoom.toFixed(3);
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const later = (): void => {
    clearTimeout(timer);
    // After the gesture: a wheel or drag fires viewport events every frame.
    timer = setTimeout(relabel, 80);
  };
  cy.on('viewport resize', later);
  cy.on('layoutstop', relabel);
  relabel();
  const hover = (ids: string[]): void => {
    hovered = new Set(ids);
    relabel();
  };
  cy.on('mouseover', 'node[kind != "namespace"][kind != "domain"]', (evt) =>
    hover(evt.target.closedNeighborhood('node').map((n: cytoscape.NodeSingular) => n.id())),
  );
  cy.on('mouseout', 'node', () => hover([]));
  cy.on('mouseover', 'edge', (evt) => {
    evt.target.addClass('hover');
    hover(evt.target.connectedNodes().map((n: cytoscape.NodeSingular) => n.id()));
  });
  cy.on('mouseout', 'edge', (evt) => {
    evt.target.removeClass('hover');
    hover([]);
  });
  cy.on('tap', 'node[kind = "group"]', (evt) => {
    cb.expand(String(evt.target.data('ns')));
  });
  cy.on('tap', 'node[kind = "namespace"], node[kind = "domain"]', (evt) => {
    cb.collapse(String(evt.target.data('ns')));
  });
  cy.on('tap', 'edge', (evt) => {
    cb.select({ kind: 'edge', id: evt.target.id() });
  });
  cy.on('tap', 'node[kind != "group"][kind != "namespace"][kind != "domain"]', (evt) => {
    cb.select({ kind: 'node', id: evt.target.id() });
  });
  el.dataset.renderer = 'cytoscape';
  return {
    highlight(sel) {
      if (cy.destroyed()) return;
      cy.batch(() => {
        cy.elements(':selected').unselect();
        if (sel) cy.getElementById(sel.id).select();
      });
    },
    destroy() {
      clearTimeout(timer);
      cy.destroy();
    },
  };
}
