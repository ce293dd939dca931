/**
 * What the service map knows of a clicked edge or node: its figures, its edges (for a node), the
 * open alerts that concern it, and links that open the connections of the whole selection or of
 * one of its terms (`field: value`).
 */
import type { Alert } from '../lib/api';
import { fmtBytes, fmtCount } from '../lib/format';
import { type Graph, type MapEdge, type MapNode, portsLabel } from '../lib/map';
import { anyOf, clause, endQuery, type EndIdentity } from '../lib/query';
import { Link } from '../Link';

export type MapSelection = { kind: 'edge'; id: string } | { kind: 'node'; id: string };

/** Edges listed for a node before "and N more". */
const NODE_EDGES = 20;

function nodeIdentity(n: MapNode): EndIdentity {
  if (n.kind === 'group') return n.namespace ? { namespace: n.namespace } : { ips: [...n.ips].sort() };
  if (n.workload) return { namespace: n.namespace, workload: n.workload };
  if (n.service) return { namespace: n.namespace, service: n.service };
  return { ip: [...n.ips][0] ?? null };
}

function Pivot(props: { q: string; from: string; to: string; label?: string }) {
  return (
    <Link to="/connections" params={{ q: props.q, from: props.from, to: props.to }} className="pivot" testId="map-pivot">
      {props.label ?? props.q}
    </Link>
  );
}

function AlertList(props: { ids: string[]; alerts: ReadonlyMap<string, Alert> }) {
  if (props.ids.length === 0) return <p className="muted">No open alerts.</p>;
  return (
    <ul className="map-panel-list" aria-label="Alerts">
      {props.ids.map((id) => {
        const a = props.alerts.get(id);
        return (
          <li key={id} data-alert={id}>
            <Link to="/alerts" params={{ id, status: 'all' }}>
              {a ? `${a.severity}: ${a.title}` : id}
            </Link>
          </li>
        );
      })}
    </ul>
  );
}

export function MapPanel(props: {
  selection: MapSelection;
  graph: Graph;
  alerts: ReadonlyMap<string, Alert>;
  nameOf: (id: string) => string;
  from: string;
  to: string;
  onSelect: (s: MapSelection | null) => void;
}) {
  const { graph, from, to } = props;
  const close = (
    <button type="button" className="map-panel-close" onClick={() => props.onSelect(null)} aria-label="Close the panel">
      ×
    </button>
  );
  if (props.selection.kind === 'edge') {
    const id = props.selection.id;
    const e = graph.edges.find((x) => x.id === id);
    if (!e) return null;
    const transports = e.transport.split(',');
    return (
      <aside className="map-panel" aria-label="Edge details" data-testid="map-panel" data-edge={e.id}>
        {close}
        <h2 className="map-panel-title">
          {props.nameOf(e.source)} → {props.nameOf(e.target)}
        </h2>
        <dl>
          <dt>Ports</dt>
          <dd>
            {e.transport}/{portsLabel(e.ports, 12)}
          </dd>
          <dt>Connections</dt>
          <dd data-testid="panel-connections">{fmtCount(e.connections)}</dd>
          <dt>Bytes</dt>
          <dd>{fmtBytes(e.bytes)}</dd>
          {e.members !== undefined && (
            <>
              <dt>Edges merged</dt>
              <dd data-testid="panel-members">{fmtCount(e.members)}</dd>
            </>
          )}
          {e.denied && (
            <>
              <dt>Policy</dt>
              <dd>denied by a NetworkPolicy</dd>
            </>
          )}
        </dl>
        <p>
          <Pivot q={e.query} from={from} to={to} label={`Show its ${fmtCount(e.connections)} connections`} />
        </p>
        <h3 className="map-panel-h">Search by</h3>
        <ul className="map-panel-list">
          {[
            endQuery('source', e.ends[0]),
            endQuery('destination', e.ends[1]),
            e.ports.length === 1 ? clause('destination.port', e.ports[0]) : '',
            anyOf('network.transport', transports),
          ]
            .filter(Boolean)
            .map((q) => (
              <li key={q}>
                <Pivot q={q} from={from} to={to} />
              </li>
            ))}
        </ul>
        <h3 className="map-panel-h">Alerts ({e.alerts.length})</h3>
        <AlertList ids={e.alerts} alerts={props.alerts} />
      </aside>
    );
  }
  const nid = props.selection.id;
  const n = graph.nodes.find((x) => x.id === nid);
  if (!n) return null;
  const out = graph.edges.filter((e) => e.source === n.id);
  const inc = graph.edges.filter((e) => e.target === n.id);
  const mine = [...new Set([...out, ...inc])].sort((a, b) => b.connections - a.connections);
  const alertIds = [...new Set(mine.flatMap((e) => e.alerts))];
  const sum = (l: MapEdge[]): number => l.reduce((s, e) => s + e.connections, 0);
  const ident = nodeIdentity(n);
  return (
    <aside className="map-panel" aria-label="Node details" data-testid="map-panel" data-node={n.id}>
      {close}
      <h2 className="map-panel-title">{props.nameOf(n.id)}</h2>
      <dl>
        <dt>Kind</dt>
        <dd>{n.kind === 'group' ? (n.namespace ? 'namespace (collapsed)' : 'domain (collapsed)') : n.kind}</dd>
        {n.members !== undefined && (
          <>
            <dt>Members</dt>
            <dd>{fmtCount(n.members)}</dd>
          </>
        )}
        <dt>Addresses</dt>
        <dd>
          {[...n.ips].slice(0, 5).join(', ')}
          {n.ips.size > 5 ? ` and ${fmtCount(n.ips.size - 5)} more` : ''}
        </dd>
        <dt>Out</dt>
        <dd data-testid="panel-out">
          {fmtCount(sum(out))} connections on {fmtCount(out.length)} edges
        </dd>
        <dt>In</dt>
        <dd data-testid="panel-in">
          {fmtCount(sum(inc))} connections on {fmtCount(inc.length)} edges
        </dd>
      </dl>
      <h3 className="map-panel-h">Search by</h3>
      <ul className="map-panel-list">
        {[endQuery('source', ident), endQuery('destination', ident)].filter(Boolean).map((q) => (
          <li key={q}>
            <Pivot q={q} from={from} to={to} />
          </li>
        ))}
      </ul>
      <h3 className="map-panel-h">Edges ({fmtCount(mine.length)})</h3>
      <ul className="map-panel-list" aria-label="Edges of the node">
        {mine.slice(0, NODE_EDGES).map((e) => (
          <li key={e.id}>
            <button type="button" className="linklike" onClick={() => props.onSelect({ kind: 'edge', id: e.id })}>
              {props.nameOf(e.source)} → {props.nameOf(e.target)}
            </button>{' '}
            {e.transport}/{portsLabel(e.ports)} · {fmtCount(e.connections)} conn
          </li>
        ))}
      </ul>
      {mine.length > NODE_EDGES && <p className="muted">and {fmtCount(mine.length - NODE_EDGES)} more in the table below</p>}
      <h3 className="map-panel-h">Alerts ({alertIds.length})</h3>
      <AlertList ids={alertIds} alerts={props.alerts} />
    </aside>
  );
}
