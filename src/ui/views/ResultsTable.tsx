/**
 * The results: sortable columns (those the service can keyset-sort), a column chooser, and
 * keyboard use: arrows/Home/End move between rows, Enter opens the detail panel.
 */
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { ConnRecord } from '../lib/api';
import { fmtBytes, fmtTime, fmtValue, pick } from '../lib/format';
import { zoneName } from '../lib/zone';
import { recordPivot } from '../lib/pivot';

export interface Column {
  key: string;
  label: string;
  /** The query-language field to sort by, when the service sorts on it. */
  sortField?: string;
  render?: (r: ConnRecord) => string;
  numeric?: boolean;
}

export const COLUMNS: Column[] = [
  {
    key: 'ts',
    // A getter: the header follows the clock chosen in the top bar.
    get label() {
      return `Time (${zoneName()})`;
    },
    sortField: '@timestamp',
    render: (r) => fmtTime(r.ts),
  },
  { key: 'uid', label: 'UID', sortField: 'event.id' },
  { key: 'orig_h', label: 'Source', sortField: 'source.ip' },
  { key: 'orig_p', label: 'Src port', sortField: 'source.port', numeric: true },
  { key: 'resp_h', label: 'Destination', sortField: 'destination.ip' },
  { key: 'resp_p', label: 'Dst port', sortField: 'destination.port', numeric: true },
  { key: 'proto', label: 'Proto', sortField: 'network.transport' },
  { key: 'service', label: 'Service', sortField: 'network.protocol' },
  { key: 'conn_state', label: 'State', sortField: 'zeek.connection.state' },
  { key: 'history', label: 'History', sortField: 'zeek.connection.history' },
  { key: 'duration', label: 'Duration (s)', sortField: 'event.duration', numeric: true },
  // IP bytes, as source.bytes holds them: flow sources (NetFlow, VPC, Hubble) have no payload counts.
  { key: 'orig_ip_bytes', label: 'Src bytes', sortField: 'source.bytes', numeric: true, render: (r) => fmtBytes(r.orig_ip_bytes as number) },
  { key: 'resp_ip_bytes', label: 'Dst bytes', sortField: 'destination.bytes', numeric: true, render: (r) => fmtBytes(r.resp_ip_bytes as number) },
  { key: 'orig_bytes', label: 'Src payload', sortField: 'zeek.connection.orig_bytes', numeric: true, render: (r) => fmtBytes(r.orig_bytes as number) },
  { key: 'resp_bytes', label: 'Dst payload', sortField: 'zeek.connection.resp_bytes', numeric: true, render: (r) => fmtBytes(r.resp_bytes as number) },
  { key: 'orig_pkts', label: 'Src pkts', sortField: 'source.packets', numeric: true },
  { key: 'resp_pkts', label: 'Dst pkts', sortField: 'destination.packets', numeric: true },
  { key: 'k8s.orig.namespace', label: 'Src namespace', sortField: 'eastwatch.source.namespace' },
  { key: 'k8s.orig.workload', label: 'Src workload', sortField: 'eastwatch.source.workload' },
  { key: 'k8s.orig.pod', label: 'Src pod', sortField: 'eastwatch.source.pod' },
  { key: 'k8s.resp.namespace', label: 'Dst namespace', sortField: 'eastwatch.destination.namespace' },
  { key: 'k8s.resp.workload', label: 'Dst workload', sortField: 'eastwatch.destination.workload' },
  { key: 'k8s.resp.pod', label: 'Dst pod', sortField: 'eastwatch.destination.pod' },
  { key: 'k8s.resp.service', label: 'Dst service', sortField: 'eastwatch.destination.service' },
  { key: 'k8s.policy.verdict', label: 'Policy', sortField: 'eastwatch.policy.verdict' },
  { key: 'community_id', label: 'Community ID', sortField: 'network.community_id' },
];

export const DEFAULT_COLUMNS = [
  'ts',
  'orig_h',
  'orig_p',
  'resp_h',
  'resp_p',
  'proto',
  'service',
  'conn_state',
  'orig_ip_bytes',
  'resp_ip_bytes',
  'k8s.orig.workload',
  'k8s.resp.workload',
];

export function cell(c: Column, r: ConnRecord): string {
  return c.render ? c.render(r) : fmtValue(pick(r, c.key));
}

export interface TableProps {
  records: ConnRecord[];
  columns: Column[];
  sortable: Set<string>;
  sort: string;
  order: 'asc' | 'desc';
  onSort: (field: string, order: 'asc' | 'desc') => void;
  selected: string | null;
  onOpen: (uid: string) => void;
  /** Adds `field: value` (or `not field: value`) to the query: the + and − beside a cell's value. */
  onPivot?: (field: string, value: string, negate: boolean) => void;
}

export function ResultsTable(props: TableProps) {
  const [focus, setFocus] = useState(0);
  const rows = useRef<(HTMLTableRowElement | null)[]>([]);

  // A new search starts at the top; a further page keeps the row the analyst was on.
  useEffect(() => setFocus((f) => (f < props.records.length ? f : 0)), [props.records]);

  const move = (i: number): void => {
    const n = Math.max(0, Math.min(props.records.length - 1, i));
    setFocus(n);
    rows.current[n]?.focus();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTableRowElement>, i: number): void => {
    const page = 10;
    switch (e.key) {
      case 'ArrowDown':
        e.preventDefault();
        move(i + 1);
        break;
      case 'ArrowUp':
        e.preventDefault();
        move(i - 1);
        break;
      case 'PageDown':
        e.preventDefault();
        move(i + page);
        break;
      case 'PageUp':
        e.preventDefault();
        move(i - page);
        break;
      case 'Home':
        e.preventDefault();
        move(0);
        break;
      case 'End':
        e.preventDefault();
        move(props.records.length - 1);
        break;
      case 'Enter':
      case ' ':
        e.preventDefault();
        props.onOpen(props.records[i].uid);
        break;
      default:
    }
  };

  return (
    <div className="table-wrap">
      <table className="results" aria-label="Connections" aria-describedby="results-keys">
        <thead>
          <tr>
            {props.columns.map((c) => {
              const can = c.sortField !== undefined && props.sortable.has(c.sortField);
              const on = can && props.sort === c.sortField;
              return (
                <th
                  key={c.key}
                  scope="col"
                  aria-sort={on ? (props.order === 'asc' ? 'ascending' : 'descending') : undefined}
                  className={c.numeric ? 'num' : undefined}
                >
                  {can ? (
                    <button
                      type="button"
                      className="sort"
                      onClick={() => props.onSort(c.sortField as string, on && props.order === 'desc' ? 'asc' : 'desc')}
                      title={`Sort by ${c.sortField}`}
                    >
                      {c.label}
                      {on ? (props.order === 'asc' ? ' ▲' : ' ▼') : ''}
                    </button>
                  ) : (
                    c.label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {props.records.map((r, i) => (
            <tr
              key={r.uid}
              ref={(el) => {
                rows.current[i] = el;
              }}
              tabIndex={i === focus ? 0 : -1}
              aria-selected={props.selected === r.uid}
              className={props.selected === r.uid ? 'selected' : undefined}
              onKeyDown={(e) => onKeyDown(e, i)}
              onFocus={() => setFocus(i)}
              onClick={() => {
                setFocus(i);
                props.onOpen(r.uid);
              }}
              data-uid={r.uid}
            >
              {props.columns.map((c) => {
                const p = props.onPivot ? recordPivot(c.key, pick(r, c.key)) : null;
                const onPivot = props.onPivot;
                return (
                  <td key={c.key} className={c.numeric ? 'num' : undefined}>
                    {cell(c, r)}
                    {p && onPivot && (
                      // Out of the Tab order (the rows are the keyboard's way through the table); their
                      // signs come from CSS so that the cell's text stays the value.
                      <span className="cell-pivots">
                        <button
                          type="button"
                          tabIndex={-1}
                          className="pivot-add"
                          aria-label={`Filter on ${c.label} ${p.value}`}
                          title={`Add ${p.field}: ${p.value} to the query`}
                          onClick={(e) => {
                            e.stopPropagation();
                            onPivot(p.field, p.value, false);
                          }}
                        />
                        <button
                          type="button"
                          tabIndex={-1}
                          className="pivot-not"
                          aria-label={`Exclude ${c.label} ${p.value}`}
                          title={`Add not ${p.field}: ${p.value} to the query`}
                          onClick={(e) => {
                            e.stopPropagation();
                            onPivot(p.field, p.value, true);
                          }}
                        />
                      </span>
                    )}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      <p id="results-keys" className="muted small">
        Keyboard: Tab into the table, arrows (Page Up/Down, Home/End) to move, Enter to open a connection, Escape to close it. Pointer: + and − beside a value
        add it to the query or exclude it.
      </p>
    </div>
  );
}
