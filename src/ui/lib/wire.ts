/**
 * Reading the API's answers without the DOM (Node tests import this): error bodies with the
 * query position, and the server-sent event framing.
 */

/** An error answer of the API; `position` is where in the query a query error is. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly position: number | null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * The query parser reports its position inside the message ("... (at position 7)"); a
 * `position` field in the body wins when the service sends one.
 */
export function errorOf(status: number, body: unknown, fallback: string): ApiError {
  const b = (body ?? {}) as { error?: unknown; position?: unknown };
  const message = typeof b.error === 'string' ? b.error : fallback;
  let position: number | null = typeof b.position === 'number' ? b.position : null;
  if (position === null) {
    const m = /\(at position (\d+)\)\s*$/.exec(message);
    if (m) position = Number(m[1]);
  }
  return new ApiError(status, message, position);
}

export interface ServerEvent {
  event: string;
  data: unknown;
}

/** Splits a server-sent event stream's text into complete events; returns the unparsed rest. */
export function parseEvents(buffer: string, out: ServerEvent[]): string {
  let rest = buffer.replace(/\r\n/g, '\n');
  for (let i = rest.indexOf('\n\n'); i >= 0; i = rest.indexOf('\n\n')) {
    const block = rest.slice(0, i);
    rest = rest.slice(i + 2);
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length) {
      const text = data.join('\n');
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
      out.push({ event, data: parsed });
    }
  }
  return rest;
}
