/** AWS (Kinesis) Data Firehose HTTP endpoint deliveries to POST /api/v1/flows. */
import type * as http from 'node:http';

/**
 * The request id of an AWS (Kinesis) Data Firehose HTTP endpoint delivery to POST /api/v1/flows,
 * or null for any other request. Firehose names it in X-Amz-Firehose-Request-Id (the body's
 * requestId, the same on every retry) and accepts only a 200 answering
 * {requestId, timestamp}, with errorMessage on failure (docs.aws.amazon.com/firehose/latest/dev/httpdeliveryrequestresponse.html).
 */
export function firehoseRequestId(req: http.IncomingMessage & { originalUrl?: string }): string | null {
  // originalUrl: inside the API (Express); url: before it (auth-limit.ts), where they are the same.
  if (req.method !== 'POST' || !/^\/api\/v1\/flows\/?$/.test((req.originalUrl ?? req.url ?? '').split('?', 1)[0])) return null;
  const id = req.headers['x-amz-firehose-request-id'];
  return typeof id === 'string' && id !== '' ? id : null;
}
