/**
 * Who talks to whom, drawn with Cytoscape. Filters (namespaces, protocols, policy verdict, alerts
 * only, time) live in the URL; clicking
 * an edge (or its row in the table under the map, for keyboard users) opens its connections.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import cytoscape from 'cytoscape';
import { apiGet, type Alert, type Edge } from '../lib/api';
import { fmtBytes, fmtCount } from '../lib/format';
import {
  alertedOnly,
  blockPositions,
  buildGraph,
  groupGraph,
  groupKey,
  type LabelCandidate,
  LARGE_MAP_EDGES,
  placeLabels,
  portsLabel,
  type Graph,
  type MapEdge,
} from '../lib/map';
import { and, anyOf, clause } from '../lib/query';
import { navigate } from '../lib/router';
import { Link } from '../Link';
import { MapPanel, type MapSelection } from './MapPanel';
import { TimeRange } from './TimeRange';

const EDGE_LIMIT = 1000;
/** The API's bound (MAX_EDGES): ?limit= asks for more edges than the default, up to it. */
const EDGE_LIMIT_MAX = 5000;
/** Rows of the edge table before "show all": thousands of rows cost the page seconds before the map is drawn. */
const TABLE_ROWS = 300;
const ALERT_LIMIT = 1000;
/** Offered in the protocol filter (network.transport) even before the traffic shows them. */
const TRANSPORTS = ['tcp', 'udp', 'icmp'];
/** eastwatch.policy.verdict's values (src/query/fields.ts). */
const VERDICTS = ['allowed', 'denied', 'mixed'];
/** Node labels are drawn at this size on screen whatever the zoom: readable, or left out. */
const LABEL_PX = 12;
const NODE_SIZE = 22;
/** Nodes drawn smaller than this (px) are too small to tell apart: only hovered labels then. */
const MIN_LABELLED_NODE_PX = 6;

function edgeLabel(e: MapEdge): string {
  return `${e.transport}/${portsLabel(e.ports)} · ${fmtCount(e.connections)} conn · ${fmtBytes(e.bytes)}`;
}

export function ServiceMap(props: { params: URLSearchParams }) {
  const from = props.params.get('from') ?? '';
  const to = props.params.get('to') ?? '';
  const nsParam = props.params.get('ns') ?? '';
  const protoParam = props.params.get('proto') ?? '';
  const verdictParam = props.params.get('verdict') ?? '';
  const verdict = VERDICTS.includes(verdictParam) ? verdictParam : '';
  const alertsOnly = props.params.get('alerts') === '1';
  /** Expanded namespaces: absent, the default (all when the map is small, none when large); `*` all; else a list. */
  const openParam = props.params.get('open');
  const limitParam = Number(props.params.get('limit') ?? EDGE_LIMIT);
  const limit = Number.isInteger(limitParam) ? Math.min(EDGE_LIMIT_MAX, Math.max(1, limitParam)) : EDGE_LIMIT;
  /** When the edges arrived (performance.now()), to say how long the drawing took. */
  const arrived = useRef(0);
  const selectedNs = useMemo(() => nsParam.split(',').filter(Boolean), [nsParam]);
  const protos = useMemo(() => protoParam.split(',').filter(Boolean), [protoParam]);
  /** The edges as fetched (namespace, protocol, verdict and time applied by the API); `graph` is after "alerts only". */
  const [fetched, setFetched] = useState<Graph | null>(null);
  const graph = useMemo(() => (fetched && alertsOnly ? alertedOnly(fetched) : fetched), [fetched, alertsOnly]);
  const [knownProtos, setKnownProtos] = useState<string[]>(TRANSPORTS);
  const [known, setKnown] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [allRows, setAllRows] = useState(false);
  const [alerts, setAlerts] = useState<ReadonlyMap<string, Alert>>(new Map());
  const [selection, setSelection] = useState<MapSelection | null>(null);
  const host = useRef<HTMLDivElement>(null);

  const go = (patch: Record<string, string | null>): void =>
    navigate('/map', {
      from,
      to,
      ns: nsParam,
      proto: protoParam || null,
      verdict: verdict || null,
      alerts: alertsOnly ? '1' : null,
      open: openParam,
      limit: limit === EDGE_LIMIT ? null : String(limit),
      ...patch,
    });

  /** What expands and collapses: namespaces, and the registered domains external destinations are grouped by. */
  const namespaces = useMemo(() => (graph ? graph.nodes.filter((n) => n.kind === 'namespace' || n.kind === 'domain').map((n) => n.label) : []), [graph]);
  /** A large map opens collapsed: one node per namespace, so thousands of edges are drawn as a few dozen. */
  const openSet = useMemo((): ReadonlySet<string> => {
    if (openParam === null) return new Set(graph && graph.edges.length > LARGE_MAP_EDGES ? [] : namespaces);
    if (openParam === '*') return new Set(namespaces);
    return new Set(openParam.split(',').filter(Boolean));
  }, [openParam, graph, namespaces]);
  const shown = useMemo(() => (graph ? groupGraph(graph, (ns) => openSet.has(ns)) : null), [graph, openSet]);
  const setOpen = (next: ReadonlySet<string>): void => {
    const all = namespaces.every((ns) => next.has(ns));
    setSelection(null);
    // The map is drawn again: its time to draw is counted from the click.
    arrived.current = performance.now();
    go({ open: all ? '*' : [...next].sort().join(',') || '-' });
  };
  const setOpenRef = useRef(setOpen);
  setOpenRef.current = setOpen;
  const openRef = useRef(openSet);
  openRef.current = openSet;

  useEffect(() => {
    const ac = new AbortController();
    setError(null);
    setFetched(null);
    const q = and(anyOf('ns', selectedNs), anyOf('network.transport', protos), verdict ? clause('verdict', verdict) : null);
    Promise.all([
      apiGet<{ edges: Edge[] }>('/aggregations/edges', { q, from, to, limit }, ac.signal),
      apiGet<{ edges: Edge[] }>('/aggregations/edges', { q: and(q, 'verdict:denied'), from, to, limit }, ac.signal),
      apiGet<{ alerts: Alert[] }>('/alerts', { from, to, limit: ALERT_LIMIT }, ac.signal),
    ]).then(
      ([all, denied, alerts]) => {
        const live = alerts.alerts.filter((a) => a.status !== 'closed');
        arrived.current = performance.now();
        const g = buildGraph(all.edges, denied.edges, live);
        setAlerts(new Map(live.map((a) => [a.id, a])));
        setSelection(null);
        setFetched(g);
        setKnownProtos((k) => [...new Set([...k, ...all.edges.map((e) => e.transport)])].sort());
        setKnown((k) => [...new Set([...k, ...g.nodes.filter((n) => n.kind === 'namespace').map((n) => n.label)])].sort());
      },
      (e: unknown) => {
        if (!ac.signal.aborted) setError(e instanceof Error ? e.message : String(e));
      },
    );
    return () => ac.abort();
  }, [from, to, selectedNs, protos, verdict, limit]);

  useEffect(() => {
    const el = host.current;
    const graph = shown;
    if (!el || !graph || graph.edges.length === 0) return;
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
      layout: large
        ? ({ name: 'preset', positions: blockPositions(graph), fit: true, padding: 30 } as cytoscape.LayoutOptions)
        : ({
            name: 'cose',
            animate: false,
            padding: 30,
            nodeDimensionsIncludeLabels: true,
            idealEdgeLength: () => 140,
            nodeRepulsion: () => 600_000,
            componentSpacing: 80,
            nestingFactor: 1.2,
            randomize: false,
          } as cytoscape.LayoutOptions),
      // Large maps: a cached bitmap while panning and zooming, edges hidden meanwhile.
      textureOnViewport: large,
      hideEdgesOnViewport: large,
      wheelSensitivity: 0.3,
    });
    el.dataset.buildMs = String(Math.round(performance.now() - building));
    el.dataset.waitedMs = String(Math.round(building - arrived.current));
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
          // From the edges' arrival to the first frame drawn: what a person waits for.
          el.dataset.renderMs = String(Math.round(performance.now() - arrived.current));
          el.dataset.layout = large ? 'blocks' : 'cose';
          // Which drawing the figures are of (a test waits for the map it asked for, not the last one).
          el.dataset.drawnEdges = String(graph.edges.length);
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
      // What was labelled and where every node is, so that a test can read the level of detail.
      const labels: Record<string, { text: string; side: string; box: number[] }> = {};
      for (const c of cands) {
        const p = placed.get(c.id);
        if (p) labels[c.id] = { text: c.text, side: p.side, box: p.box.map((v) => Math.round(v)) };
      }
      el.dataset.nodeLabels = JSON.stringify(labels);
      el.dataset.nodePoints = JSON.stringify(Object.fromEntries(cands.map((c) => [c.id, [Math.round(c.x), Math.round(c.y)]])));
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
      setOpenRef.current(new Set([...openRef.current, String(evt.target.data('ns'))]));
    });
    cy.on('tap', 'node[kind = "namespace"], node[kind = "domain"]', (evt) => {
      const ns = String(evt.target.data('ns'));
      setOpenRef.current(new Set([...openRef.current].filter((n) => n !== ns)));
    });
    cy.on('tap', 'edge', (evt) => {
      setSelection({ kind: 'edge', id: evt.target.id() });
    });
    cy.on('tap', 'node[kind != "group"][kind != "namespace"][kind != "domain"]', (evt) => {
      setSelection({ kind: 'node', id: evt.target.id() });
    });
    return () => {
      clearTimeout(timer);
      delete el.dataset.edgePoints;
      delete el.dataset.nodeLabels;
      delete el.dataset.nodePoints;
      delete el.dataset.groupPoints;
      delete el.dataset.renderMs;
      delete el.dataset.drawnEdges;
      cy.destroy();
    };
  }, [shown]);

  const toggleNs = (ns: string, on: boolean): void => {
    const next = on ? [...selectedNs, ns] : selectedNs.filter((n) => n !== ns);
    go({ ns: next.join(',') || null });
  };

  const toggleProto = (p: string, on: boolean): void => {
    const next = on ? [...protos, p] : protos.filter((x) => x !== p);
    go({ proto: next.sort().join(',') || null });
  };

  const edges = shown?.edges ?? [];
  const sorted = [...edges].sort(
    (a, b) => Number(b.alerts.length > 0) - Number(a.alerts.length > 0) || Number(b.denied) - Number(a.denied) || b.connections - a.connections,
  );
  const byId = new Map(shown?.nodes.map((n) => [n.id, n]) ?? []);
  const nameOf = (id: string): string => {
    const n = byId.get(id);
    if (!n) return id;
    if (n.kind === 'group') return n.namespace ? `${n.label}/* (${fmtCount(n.members ?? 0)})` : `*.${n.label} (${fmtCount(n.members ?? 0)})`;
    return n.namespace && (n.kind === 'workload' || n.kind === 'service') ? `${n.namespace}/${n.label}` : n.label;
  };

  return (
    <section aria-labelledby="map-h" className="map">
      <h1 id="map-h">Service map</h1>
      <div className="map-filters">
        <TimeRange value={{ from, to }} onChange={(r) => go({ from: r.from, to: r.to })} />
        <fieldset className="ns-filter">
          <legend>Namespaces {selectedNs.length === 0 ? '(all)' : ''}</legend>
          {known.length === 0 && <span className="muted">No Kubernetes namespaces in this traffic (upload an inventory to resolve workloads).</span>}
          {known.map((ns) => (
            <label key={ns}>
              <input type="checkbox" checked={selectedNs.includes(ns)} onChange={(e) => toggleNs(ns, e.target.checked)} /> {ns}
            </label>
          ))}
        </fieldset>
        <fieldset className="proto-filter" data-testid="proto-filter">
          <legend>Protocols {protos.length === 0 ? '(all)' : ''}</legend>
          {knownProtos.map((p) => (
            <label key={p}>
              <input type="checkbox" checked={protos.includes(p)} onChange={(e) => toggleProto(p, e.target.checked)} /> {p}
            </label>
          ))}
        </fieldset>
        <fieldset className="verdict-filter">
          <legend>Policy</legend>
          <label>
            Verdict{' '}
            <select value={verdict} onChange={(e) => go({ verdict: e.target.value || null })}>
              <option value="">any</option>
              {VERDICTS.map((v) => (
                <option key={v} value={v}>
                  {v}
                </option>
              ))}
            </select>
          </label>{' '}
          <label>
            <input type="checkbox" checked={alertsOnly} onChange={(e) => go({ alerts: e.target.checked ? '1' : null })} /> Alerts only
          </label>
        </fieldset>
        {namespaces.length > 0 && (
          <fieldset className="ns-group" data-testid="ns-group">
            <legend>
              Grouping: {openSet.size} of {namespaces.length} namespaces and domains expanded
            </legend>
            <button type="button" onClick={() => setOpen(new Set(namespaces))} disabled={namespaces.every((ns) => openSet.has(ns))}>
              Expand all
            </button>{' '}
            <button type="button" onClick={() => setOpen(new Set())} disabled={openSet.size === 0}>
              Collapse all
            </button>
            <div>
              {namespaces.map((ns) => {
                const isOpen = openSet.has(ns);
                return (
                  <button
                    key={ns}
                    type="button"
                    className="ns-toggle"
                    aria-pressed={isOpen}
                    onClick={() => setOpen(new Set(isOpen ? [...openSet].filter((n) => n !== ns) : [...openSet, ns]))}
                  >
                    {isOpen ? '▾' : '▸'} {ns}
                  </button>
                );
              })}
            </div>
          </fieldset>
        )}
      </div>
      <p className="legend muted">
        <span className="key key-alert">red</span>: open alerts · <span className="key key-denied">dashed orange</span>: NetworkPolicy denials · width:
        connections · <span className="key key-group">boxes</span>: collapsed namespaces (click to expand; click an expanded namespace to collapse it) ·{' '}
        <span className="key key-service">diamonds</span>: services. Click an edge to see its connections.
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {!graph && !error && <p role="status">Loading the map…</p>}
      {graph && edges.length === 0 && (
        <p role="status">{alertsOnly || protos.length || verdict ? 'No traffic matches these filters in this range.' : 'No traffic in this range.'}</p>
      )}
      <div
        ref={host}
        className="cy"
        data-testid="map"
        role="img"
        aria-label={`Service map: ${shown?.nodes.length ?? 0} nodes, ${edges.length} edges; the table below lists the edges`}
        hidden={!graph || edges.length === 0}
      />
      {shown && selection && <MapPanel selection={selection} graph={shown} alerts={alerts} nameOf={nameOf} from={from} to={to} onSelect={setSelection} />}
      {edges.length > 0 && (
        <table className="edges" aria-label="Edges">
          <thead>
            <tr>
              <th scope="col">From</th>
              <th scope="col">To</th>
              <th scope="col">Ports</th>
              <th scope="col" className="num">
                Connections
              </th>
              <th scope="col" className="num">
                Bytes
              </th>
              <th scope="col">Flags</th>
            </tr>
          </thead>
          <tbody>
            {(allRows ? sorted : sorted.slice(0, TABLE_ROWS)).map((e) => (
              <tr
                key={e.id}
                className={e.alerts.length ? 'row-alert' : e.denied ? 'row-denied' : undefined}
                data-edge={e.id}
                data-query={e.query}
                data-connections={e.connections}
              >
                <td>{nameOf(e.source)}</td>
                <td>{nameOf(e.target)}</td>
                <td>
                  <Link to="/connections" params={{ q: e.query, from, to }}>
                    {e.transport}/{portsLabel(e.ports, 8)}
                  </Link>
                </td>
                <td className="num">{fmtCount(e.connections)}</td>
                <td className="num">{fmtBytes(e.bytes)}</td>
                <td>
                  {[e.alerts.length ? `${e.alerts.length} alert${e.alerts.length > 1 ? 's' : ''}` : '', e.denied ? 'denied by policy' : '']
                    .filter(Boolean)
                    .join(', ')}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {!allRows && sorted.length > TABLE_ROWS && (
        <p>
          The {fmtCount(TABLE_ROWS)} edges with alerts, denials and the most connections first.{' '}
          <button type="button" onClick={() => setAllRows(true)}>
            Show all {fmtCount(sorted.length)} edges
          </button>
        </p>
      )}
    </section>
  );
}
