/**
 * The query input: field-name autocomplete from GET /fields (arrows, Enter/Tab to take,
 * Escape to close), syntax help, and the service's error drawn under its position.
 */
import { useEffect, useId, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { flushSync } from 'react-dom';
import { apiGet, type FieldInfo } from '../lib/api';
import { applySuggestion, fieldTokenAt, suggestFields, type FieldToken, type Suggestion } from '../lib/query';

let fieldsOnce: Promise<FieldInfo[]> | null = null;

/** The fields never change while the service runs: fetch them once per page. */
export function loadFields(): Promise<FieldInfo[]> {
  fieldsOnce ??= apiGet<{ fields: FieldInfo[] }>('/fields').then(
    (r) => r.fields,
    (e: unknown) => {
      fieldsOnce = null;
      throw e;
    },
  );
  return fieldsOnce;
}

export interface QueryProblem {
  message: string;
  position: number | null;
  /** The query the message is about (the input may have changed since). */
  query: string;
}

export function QueryBar(props: { value: string; onSubmit: (q: string) => void; problem: QueryProblem | null; label?: string }) {
  const [text, setText] = useState(props.value);
  const [fields, setFields] = useState<FieldInfo[]>([]);
  const [token, setToken] = useState<FieldToken | null>(null);
  const [active, setActive] = useState(0);
  const [open, setOpen] = useState(false);
  const [help, setHelp] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const id = useId();
  const listId = `${id}-list`;
  const errId = `${id}-err`;

  useEffect(() => setText(props.value), [props.value]);
  useEffect(() => {
    loadFields().then(setFields, () => setFields([]));
  }, []);

  // Put the caret where the service says the query went wrong.
  useEffect(() => {
    const p = props.problem;
    if (p && p.position !== null && input.current && p.query === input.current.value) {
      input.current.focus();
      input.current.setSelectionRange(p.position, Math.min(p.query.length, p.position + 1));
    }
  }, [props.problem]);

  const suggestions: Suggestion[] = useMemo(() => (token && fields.length ? suggestFields(fields, token.prefix) : []), [token, fields]);
  const showList = open && suggestions.length > 0;

  const refresh = (value: string, caret: number): void => {
    const t = fieldTokenAt(value, caret);
    setToken(t);
    setActive(0);
    setOpen(t !== null && t.prefix.length > 0);
  };

  const take = (s: Suggestion): void => {
    if (!token) return;
    const r = applySuggestion(text, token, s.insert);
    // Have React write the query into the input now, so that the caret goes after the taken
    // name before the next keystroke can land.
    flushSync(() => {
      setText(r.query);
      setOpen(false);
    });
    input.current?.focus();
    input.current?.setSelectionRange(r.caret, r.caret);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>): void => {
    if (showList) {
      if (e.key === 'ArrowDown') {
        e.preventDefault();
        setActive((a) => (a + 1) % suggestions.length);
        return;
      }
      if (e.key === 'ArrowUp') {
        e.preventDefault();
        setActive((a) => (a - 1 + suggestions.length) % suggestions.length);
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        take(suggestions[active]);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setOpen(false);
        return;
      }
    } else if (e.key === 'ArrowDown' && token) {
      e.preventDefault();
      setOpen(true);
      return;
    }
    if (e.key === 'Enter') {
      e.preventDefault();
      props.onSubmit(text.trim());
    }
  };

  const p = props.problem;
  return (
    <div className="querybar">
      <search>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            props.onSubmit(text.trim());
          }}
        >
          <label htmlFor={`${id}-q`}>{props.label ?? 'Query'}</label>
          <div className="combo">
            <input
              id={`${id}-q`}
              ref={input}
              type="text"
              role="combobox"
              aria-autocomplete="list"
              aria-expanded={showList}
              aria-controls={listId}
              aria-activedescendant={showList ? `${listId}-${active}` : undefined}
              aria-invalid={p ? true : undefined}
              aria-describedby={p ? errId : undefined}
              spellCheck={false}
              autoComplete="off"
              value={text}
              placeholder="e.g. ns:payments and dport:5432 and not state:SF"
              onChange={(e) => {
                setText(e.target.value);
                refresh(e.target.value, e.target.selectionStart ?? e.target.value.length);
              }}
              onKeyDown={onKeyDown}
              onClick={(e) => refresh(e.currentTarget.value, e.currentTarget.selectionStart ?? 0)}
              onBlur={() => setTimeout(() => setOpen(false), 150)}
              data-testid="query-input"
            />
            {/* The focus stays in the input (aria-activedescendant points at the active option). */}
            <div id={listId} role="listbox" aria-label="Field suggestions" className="suggestions" hidden={!showList}>
              {showList &&
                suggestions.map((s, i) => (
                  <div
                    key={s.insert}
                    id={`${listId}-${i}`}
                    role="option"
                    tabIndex={-1}
                    aria-selected={i === active}
                    className={i === active ? 'active' : undefined}
                    onMouseDown={(e) => {
                      e.preventDefault();
                      take(s);
                    }}
                  >
                    <code>{s.insert}</code>
                    {s.insert !== s.name && <span className="muted"> → {s.name}</span>}
                    <span className="muted"> ({s.type})</span>
                    <span className="desc">{s.description}</span>
                  </div>
                ))}
            </div>
          </div>
          <button type="submit">Search</button>
          <button type="button" aria-expanded={help} aria-controls={`${id}-help`} onClick={() => setHelp((h) => !h)}>
            Syntax help
          </button>
        </form>
      </search>
      {p && (
        <div id={errId} className="query-error" role="alert" data-testid="query-error" data-position={p.position ?? ''}>
          <p>{p.message}</p>
          {p.position !== null && (
            <pre aria-hidden="true">
              {p.query.slice(0, p.position)}
              <mark>{p.query.slice(p.position, p.position + 1) || ' '}</mark>
              {p.query.slice(p.position + 1)}
              {'\n'}
              {' '.repeat(p.position)}^
            </pre>
          )}
        </div>
      )}
      <div id={`${id}-help`} className="syntax-help" hidden={!help}>
        <h2>Query syntax</h2>
        <ul>
          <li>
            <code>field:value</code> (or <code>=</code>), <code>field!=value</code>, <code>field&gt;=value</code> (also <code>&gt; &lt; &lt;=</code>) on
            numbers, times and addresses.
          </li>
          <li>
            Combine with <code>and</code> / <code>&amp;&amp;</code>, <code>or</code> / <code>||</code>, <code>not</code> / <code>!</code>, and parentheses.
          </li>
          <li>
            Several values: <code>dport:(80 or 443)</code>; any value: <code>service:*</code>.
          </li>
          <li>
            Wildcards on text fields: <code>pod:api-*</code>; networks: <code>src:10.244.0.0/16</code>.
          </li>
          <li>
            Quotes keep a value literal: <code>workload:"my app"</code>; <code>\</code> escapes one character.
          </li>
          <li>
            Times: ISO 8601, epoch seconds or <code>now-15m</code>. Either-end aliases: <code>ns pod workload node svc port</code>.
          </li>
          <li>Type a field name to get suggestions (arrows to move, Enter or Tab to take, Escape to close).</li>
        </ul>
      </div>
    </div>
  );
}
