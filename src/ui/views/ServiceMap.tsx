/**
 * Who talks to whom, drawn with Cytoscape, or with sigma.js (WebGL) when it is large. Filters
 * (namespaces, protocols, policy verdict, alerts only, time) live in the URL; clicking an edge
 * (or its row in the table under the map, for keyboard users) opens its connections.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { apiGet, type Alert, type Edge } from '../lib/api';
import { fmtBytes, fmtCount } from '../lib/format';
import { alertedOnly, buildGraph, type Graph, groupGraph, LARGE_MAP_EDGES, portsLabel } from '../lib/map';
import { and, anyOf, clause } from '../lib/query';
import { navigate } from '../lib/router';
import { Link } from '../Link';
import { drawCytoscape } from './cytoscapeMap';
import { layoutGraph, prewarmLayout } from './mapLayout';
import { MapPanel, type MapSelection } from './MapPanel';
import { type MapCallbacks, type MapView, PUBLISHED } from './mapView';
import { TimeRange } from './TimeRange';
import { drawWebgl } from './webglMap';

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

  /** The drawing on the canvas, to show a selection made in the panel or the table. */
  const view = useRef<MapView | null>(null);
  const selected = useRef(selection);
  selected.current = selection;
  // The layout worker loads its code while the edges are fetched.
  useEffect(prewarmLayout, []);
  useEffect(() => {
    const el = host.current;
    const graph = shown;
    if (!el || !graph || graph.edges.length === 0) return;
    const cb: MapCallbacks = {
      expand: (key) => setOpenRef.current(new Set([...openRef.current, key])),
      collapse: (key) => setOpenRef.current(new Set([...openRef.current].filter((n) => n !== key))),
      select: setSelection,
      since: () => arrived.current,
    };
    const large = graph.edges.length > LARGE_MAP_EDGES;
    const ac = new AbortController();
    let drawn: MapView | null = null;
    // Large maps: the one-pass block layout; the others a force layout. Either off the page's thread.
    layoutGraph(graph, large ? 'blocks' : 'cose', el.clientWidth, el.clientHeight, ac.signal).then(
      (layout) => {
        if (ac.signal.aborted) return;
        el.dataset.layoutMs = String(Math.round(layout.ms));
        el.dataset.layoutThread = layout.thread;
        // Large maps with WebGL (sigma.js); Cytoscape for the rest, and for large maps without WebGL.
        drawn = (large ? drawWebgl(el, graph, layout, cb) : null) ?? drawCytoscape(el, graph, layout, cb);
        view.current = drawn;
        if (selected.current) drawn.highlight(selected.current);
      },
      (e: unknown) => {
        if (!ac.signal.aborted) setError(e instanceof Error ? e.message : String(e));
      },
    );
    return () => {
      ac.abort();
      view.current = null;
      drawn?.destroy();
      for (const k of PUBLISHED) delete el.dataset[k];
    };
  }, [shown]);
  useEffect(() => {
    view.current?.highlight(selection);
  }, [selection]);

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
        {(shown?.edges.length ?? 0) > LARGE_MAP_EDGES &&
          ' Large maps are drawn with WebGL: collapsed namespaces are large round nodes, services teal, denials orange; click a namespace title to collapse it.'}
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
