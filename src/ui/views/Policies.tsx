/**
 * The policy advisor: least-privilege NetworkPolicies for a namespace from the traffic seen in a
 * window (POST /policies/suggest), as YAML ready for `kubectl apply`, with what it leaves out and
 * the what-if that checks it. Its inputs live in the URL, so a suggestion can be shared.
 */
import { type FormEvent, useEffect, useState } from 'react';
import { apiSend } from '../lib/api';
import { fmtCount } from '../lib/format';
import { navigate } from '../lib/router';

interface SuggestEdge {
  src: string;
  dst: string;
  port: number;
  protocol: string;
  connections: number;
  reason?: string;
}

interface Suggestion {
  connections: number;
  policies: { metadata: { name: string; namespace?: string } }[];
  excluded: SuggestEdge[];
  warnings: string[];
  verification: {
    ok: boolean;
    mustAllow: number;
    notAllowed: SuggestEdge[];
    mustDeny: number;
    notDenied: SuggestEdge[];
    outsidePolicy: number;
    probes: number;
    probesAllowed: SuggestEdge[];
  };
  yaml: string;
  alerts_considered: number;
  truncated: boolean;
}

export function Policies(props: { params: URLSearchParams }) {
  const p = props.params;
  const [ns, setNs] = useState(p.get('ns') ?? '');
  const [from, setFrom] = useState(p.get('from') ?? '');
  const [to, setTo] = useState(p.get('to') ?? '');
  const [external, setExternal] = useState(p.get('external') === 'omit' ? 'omit' : 'cidr');
  const [result, setResult] = useState<Suggestion | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const asked = p.get('run') === '1';
  const key = p.toString();

  useEffect(() => {
    if (!asked) return;
    const q = new URLSearchParams(key);
    setBusy(true);
    setError(null);
    setResult(null);
    const namespace = q.get('ns') ?? '';
    apiSend<Suggestion>('POST', '/policies/suggest', {
      ...(namespace ? { namespaces: [namespace] } : {}),
      ...(q.get('from') ? { from: q.get('from') } : {}),
      ...(q.get('to') ? { to: q.get('to') } : {}),
      external: q.get('external') === 'omit' ? 'omit' : 'cidr',
    }).then(
      (r) => {
        setBusy(false);
        setResult(r);
      },
      (e: unknown) => {
        setBusy(false);
        setError(e instanceof Error ? e.message : String(e));
      },
    );
  }, [asked, key]);

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    navigate('/policies', { ns: ns.trim() || null, from: from.trim() || null, to: to.trim() || null, external: external === 'omit' ? 'omit' : null, run: '1' });
  };

  const v = result?.verification;
  return (
    <div className="policies">
      <h1>Policy advisor</h1>
      <p className="muted">
        Least-privilege NetworkPolicies from the connections stored for a window: each observed edge allowed, DNS egress kept, connections under an open alert
        left out; checked by a what-if against the same traffic.
      </p>
      <form className="filters" onSubmit={submit} aria-label="Suggestion settings">
        <label>
          Namespace <input value={ns} onChange={(e) => setNs(e.target.value)} placeholder="all but kube-system" size={18} />
        </label>
        <label>
          From <input value={from} onChange={(e) => setFrom(e.target.value)} placeholder="ISO 8601, now-1h" size={22} />
        </label>
        <label>
          To <input value={to} onChange={(e) => setTo(e.target.value)} placeholder="ISO 8601, now" size={22} />
        </label>
        <label>
          External egress{' '}
          <select value={external} onChange={(e) => setExternal(e.target.value)}>
            <option value="cidr">allowed as address blocks</option>
            <option value="omit">left out (denied)</option>
          </select>
        </label>
        <button type="submit" disabled={busy}>
          Suggest policies
        </button>
      </form>
      {busy && <p role="status">Reading the connections and writing policies…</p>}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {result && v && (
        <section aria-label="Suggestion" data-testid="suggestion">
          <p role="status" data-testid="suggestion-summary">
            {fmtCount(result.policies.length)} {result.policies.length === 1 ? 'policy' : 'policies'} from {fmtCount(result.connections)} connections
            {result.truncated ? ' (the first ones only: the window holds more)' : ''}.{' '}
            <span className={v.ok ? 'badge badge-ok' : 'badge badge-warn'} data-testid="suggestion-verified">
              {v.ok ? 'verified' : 'verification failed'}
            </span>{' '}
            What-if: {fmtCount(v.mustAllow - v.notAllowed.length)} of {fmtCount(v.mustAllow)} observed edges allowed,{' '}
            {fmtCount(v.mustDeny - v.notDenied.length)} of {fmtCount(v.mustDeny)} left-out edges denied, {fmtCount(v.probes - v.probesAllowed.length)} of{' '}
            {fmtCount(v.probes)} unobserved pairs denied; {fmtCount(v.outsidePolicy)} edges no NetworkPolicy can see.
          </p>
          {result.warnings.length > 0 && (
            <ul className="warnings">
              {result.warnings.map((w) => (
                <li key={w}>{w}</li>
              ))}
            </ul>
          )}
          {result.excluded.length > 0 && (
            <table aria-label="Edges left out">
              <caption>Observed edges the suggestion does not allow</caption>
              <thead>
                <tr>
                  <th scope="col">Source</th>
                  <th scope="col">Destination</th>
                  <th scope="col">Port</th>
                  <th scope="col" className="num">
                    Connections
                  </th>
                  <th scope="col">Why</th>
                </tr>
              </thead>
              <tbody>
                {result.excluded.map((e) => (
                  <tr key={`${e.src}>${e.dst}:${e.protocol}/${e.port}`}>
                    <td>{e.src}</td>
                    <td>{e.dst}</td>
                    <td>
                      {e.protocol}/{e.port}
                    </td>
                    <td className="num">{fmtCount(e.connections)}</td>
                    <td>{e.reason ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <h2>YAML</h2>
          <pre className="yaml" data-testid="suggestion-yaml">
            {result.yaml}
          </pre>
        </section>
      )}
    </div>
  );
}
