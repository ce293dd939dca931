/**
 * The session view: one connection cut from its capture. Its packets (time, direction, flags,
 * sequence and acknowledgement numbers, lengths), the payload of each direction reassembled,
 * as text or hex, and beside them the application records (dns, http, tls, ssh) of the
 * connection. The service decodes the packets (GET /connections/:uid/session, with the project's
 * decoder and its tunnels); this view only draws them.
 */
import { useEffect, useMemo, useState } from 'react';
import { apiGet, type ConnRecord, type Session, type SessionPacket, type SessionPayload } from '../lib/api';
import { fmtBytes, fmtCount, fmtTimeMicro } from '../lib/format';
import { fromBase64, hexDump, payloadText } from '../lib/session';
import { zoneName } from '../lib/zone';
import { Link } from '../Link';

/** Rows of the packet table before "show all". */
const PACKET_ROWS = 500;
/** Bytes of a hex dump before "show all" (a dump is four times its bytes as text). */
const HEX_BYTES = 16 * 1024;

interface Detail {
  record: ConnRecord;
  apps: Record<string, unknown>[];
}

function Payload(props: { title: string; data: SessionPayload; testId: string }) {
  const [mode, setMode] = useState<'text' | 'hex'>('text');
  const [all, setAll] = useState(false);
  const bytes = useMemo(() => fromBase64(props.data.data), [props.data.data]);
  const shown = mode === 'hex' ? hexDump(bytes, all ? bytes.length : HEX_BYTES) : payloadText(bytes);
  return (
    <section className="payload" data-testid={props.testId} data-bytes={bytes.length}>
      <h3>
        {props.title} · {fmtBytes(bytes.length)}
        {props.data.missing > 0 && <span className="error"> · {fmtBytes(props.data.missing)} missing from the capture</span>}
        {props.data.truncated && (
          <span className="muted">
            {' '}
            · the first {fmtBytes(bytes.length)} of {fmtBytes(props.data.total)} only (the rest is in the pcap)
          </span>
        )}
      </h3>
      <fieldset className="payload-mode" aria-label={`${props.title}: show as`}>
        <button type="button" aria-pressed={mode === 'text'} onClick={() => setMode('text')}>
          Text
        </button>
        <button type="button" aria-pressed={mode === 'hex'} onClick={() => setMode('hex')}>
          Hex
        </button>
      </fieldset>
      {bytes.length === 0 ? <p className="muted">No payload in this direction.</p> : <pre className={`payload-${mode}`}>{shown}</pre>}
      {mode === 'hex' && !all && bytes.length > HEX_BYTES && (
        <button type="button" onClick={() => setAll(true)}>
          Show all {fmtBytes(bytes.length)}
        </button>
      )}
    </section>
  );
}

function AppRecords(props: { apps: Record<string, unknown>[] }) {
  if (props.apps.length === 0) return <p className="muted">No application records for this connection.</p>;
  return (
    <ul className="session-apps" aria-label="Application records">
      {props.apps.map((a) => (
        // A connection's records of one kind differ by time, and HTTP's by their place in the connection.
        <li key={`${String(a.kind)}:${String(a.ts)}:${String(a.trans_depth ?? '')}`} className="session-app" data-kind={String(a.kind)}>
          <h4>{String(a.kind)}</h4>
          <dl>
            {Object.entries(a)
              .filter(([k, v]) => k !== 'kind' && k !== 'conn' && v !== null && v !== undefined && v !== '' && typeof v !== 'object')
              .map(([k, v]) => (
                <div key={k}>
                  <dt>{k}</dt>
                  {/* ts is epoch seconds: shown as the packets' times are, the number kept as the tooltip. */}
                  {k === 'ts' && typeof v === 'number' ? <dd title={String(v)}>{fmtTimeMicro(v)}</dd> : <dd>{String(v)}</dd>}
                </div>
              ))}
            {Object.entries(a)
              .filter(([k, v]) => k !== 'conn' && Array.isArray(v) && v.length > 0)
              .map(([k, v]) => (
                <div key={k}>
                  <dt>{k}</dt>
                  <dd>{(v as unknown[]).map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ')}</dd>
                </div>
              ))}
          </dl>
        </li>
      ))}
    </ul>
  );
}

/** The tunnels a packet came through, outermost first: "gre 10.0.0.1 → 10.0.0.2". */
function encapText(p: SessionPacket): string {
  return p.encap.map((h) => `${h.tunnel}${h.tunnelId !== null ? ` ${h.tunnelId}` : ''} ${h.src} → ${h.dst}`).join(' / ');
}

export function SessionView(props: { params: URLSearchParams }) {
  const uid = props.params.get('uid') ?? '';
  const [detail, setDetail] = useState<Detail | null>(null);
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [sessionError, setSessionError] = useState<string | null>(null);
  const [allRows, setAllRows] = useState(false);

  useEffect(() => {
    if (!uid) return;
    const ac = new AbortController();
    setDetail(null);
    setSession(null);
    setError(null);
    setSessionError(null);
    apiGet<Detail>(`/connections/${encodeURIComponent(uid)}`, {}, ac.signal).then(setDetail, (e: unknown) => {
      if (!ac.signal.aborted) setError(e instanceof Error ? e.message : String(e));
    });
    apiGet<Session>(`/connections/${encodeURIComponent(uid)}/session`, {}, ac.signal).then(setSession, (e: unknown) => {
      if (ac.signal.aborted) return;
      // 409: a flow-log record, or a capture that no longer holds it: said as the API says it.
      setSessionError(e instanceof Error ? e.message : String(e));
    });
    return () => ac.abort();
  }, [uid]);

  if (!uid) return <p role="alert">No connection named: open a connection's session view from its detail panel.</p>;
  const r = detail?.record;
  const t0 = session?.packets.length ? session.packets[0].ts : 0;
  const tunnelled = session?.packets.some((p) => p.encap.length > 0) ?? false;
  return (
    <section aria-labelledby="session-h" className="session">
      <h1 id="session-h">Session {uid}</h1>
      {r && (
        <p className="session-summary" data-testid="session-summary">
          {String(r.proto)} {String(r.orig_h)}:{String(r.orig_p)} → {String(r.resp_h)}:{String(r.resp_p)} · {fmtTimeMicro(Number(r.ts))} ·{' '}
          {String(r.conn_state ?? '')} {String(r.history ?? '')} ·{' '}
          <Link to="/connections" params={{ q: `uid:${uid}`, uid }}>
            its record
          </Link>
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {sessionError && (
        <p className="error" role="alert">
          No packets to show: {sessionError}
        </p>
      )}
      {session?.problem && (
        <p className="error" role="alert">
          The capture was not read to its end: {session.problem}
        </p>
      )}
      {!error && !sessionError && session === null && <p role="status">Loading the packets…</p>}
      {session && (
        <div className="session-grid">
          <div className="session-main">
            <h2>
              Packets ({fmtCount(session.packets.length)}){session.skipped > 0 ? ` · ${fmtCount(session.skipped)} not of this connection's flow, left out` : ''}
              {session.truncated ? ` · the first ${fmtCount(session.maxPackets)} only (the rest is in the pcap)` : ''}
            </h2>
            <table className="packets" aria-label="Packets" data-testid="packets">
              <thead>
                <tr>
                  <th scope="col" className="num">
                    #
                  </th>
                  <th scope="col">Time ({zoneName()})</th>
                  <th scope="col" className="num">
                    +s
                  </th>
                  <th scope="col">Direction</th>
                  <th scope="col">Flags</th>
                  <th scope="col" className="num">
                    Seq
                  </th>
                  <th scope="col" className="num">
                    Ack
                  </th>
                  <th scope="col" className="num">
                    IP length
                  </th>
                  <th scope="col" className="num">
                    Payload
                  </th>
                  {tunnelled && <th scope="col">Tunnels</th>}
                </tr>
              </thead>
              <tbody>
                {(allRows ? session.packets : session.packets.slice(0, PACKET_ROWS)).map((p, i) => (
                  // The list never reorders, and an 802.11 A-MSDU frame may hold several of the connection's packets under one number.
                  // biome-ignore lint/suspicious/noArrayIndexKey: the place in a fixed list is the packet's identity
                  <tr key={i} className={p.dir === 'resp' ? 'pkt-resp' : 'pkt-orig'} data-dir={p.dir}>
                    <td className="num">{p.n}</td>
                    <td>{fmtTimeMicro(p.ts)}</td>
                    <td className="num">{(p.ts - t0).toFixed(6)}</td>
                    <td>{p.dir === 'orig' ? `→ ${p.dst}:${p.dport}` : `← ${p.src}:${p.sport}`}</td>
                    <td>{p.flags}</td>
                    <td className="num">{p.seq ?? ''}</td>
                    <td className="num">{p.ack ?? ''}</td>
                    <td className="num">{p.ipLen}</td>
                    <td className="num">{p.payloadLen}</td>
                    {tunnelled && <td>{encapText(p)}</td>}
                  </tr>
                ))}
              </tbody>
            </table>
            {!allRows && session.packets.length > PACKET_ROWS && (
              <button type="button" onClick={() => setAllRows(true)}>
                Show all {fmtCount(session.packets.length)} packets
              </button>
            )}
            <Payload title="Originator → responder" data={session.orig} testId="payload-orig" />
            <Payload title="Responder → originator" data={session.resp} testId="payload-resp" />
          </div>
          <aside className="session-side" aria-label="Application records">
            <h2>Application records</h2>
            {detail && <AppRecords apps={detail.apps} />}
          </aside>
        </div>
      )}
    </section>
  );
}
