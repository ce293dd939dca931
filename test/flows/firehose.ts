/**
 * AWS Kinesis Data Firehose HTTP endpoint requests carrying VPC flow logs from a CloudWatch Logs
 * subscription, built as AWS documents them: the request
 * (https://docs.aws.amazon.com/firehose/latest/dev/httpdeliveryrequestresponse.html) is
 * `{"requestId", "timestamp", "records": [{"data": base64}]}`; each record's data is a gzipped
 * CloudWatch Logs subscription payload
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html:
 * messageType, owner, logGroup, logStream, subscriptionFilters, logEvents [{id, timestamp, message}]),
 * whose messages are VPC flow log records in the default format (version 2).
 */
import { gzipSync } from 'node:zlib';

export interface FirehoseBody {
  /** The request body, one line of JSON. */
  body: string;
  /** Every log event's message, in order. */
  messages: string[];
  /** `records[i].logEvents[j]` of each message, in the same order. */
  places: string[];
}

/**
 * `records` Firehose records of `events` log events each; addresses, ports and counts vary
 * (a seeded generator) so that gzip does not shrink the body to nothing. `tweak` may replace a
 * message (to make it unreadable).
 */
export function firehoseBody(records: number, events: number, tweak?: (msg: string, rec: number, ev: number) => string): FirehoseBody {
  let seed = 0x9e3779b9;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return seed % n;
  };
  const messages: string[] = [];
  const places: string[] = [];
  const out: { data: string }[] = [];
  for (let i = 0; i < records; i++) {
    const logEvents: { id: string; timestamp: number; message: string }[] = [];
    for (let j = 0; j < events; j++) {
      const start = 1_768_471_200 + rnd(3000);
      let m = `2 123456789010 eni-0${(0x1235b8ca + rnd(64)).toString(16)}12345678 10.${rnd(4)}.${rnd(256)}.${rnd(256)} 172.31.${rnd(256)}.${rnd(256)} ${1024 + rnd(60000)} ${[22, 80, 443, 5432, 8080][rnd(5)]} 6 ${1 + rnd(500)} ${40 + rnd(900000)} ${start} ${start + rnd(60)} ${rnd(8) === 0 ? 'REJECT' : 'ACCEPT'} OK`;
      if (tweak) m = tweak(m, i, j);
      logEvents.push({ id: `${36_000_000_000 + i * events + j}${'0'.repeat(45)}`, timestamp: start * 1000, message: m });
      messages.push(m);
      places.push(`records[${i}].logEvents[${j}]`);
    }
    const payload = {
      messageType: 'DATA_MESSAGE',
      owner: '123456789010',
      logGroup: 'vpc-flow-logs',
      logStream: 'eni-1235b8ca123456789-all',
      subscriptionFilters: ['to-eastwatch'],
      logEvents,
    };
    out.push({ data: gzipSync(Buffer.from(JSON.stringify(payload), 'utf8')).toString('base64') });
  }
  const body = JSON.stringify({ requestId: 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f', timestamp: 1_768_474_800_000, records: out });
  return { body, messages, places };
}
