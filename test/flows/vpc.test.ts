/**
 * AWS VPC Flow Logs. Samples in samples/flows: `vpc-default.log` and `vpc-tcp-flags-v3.log` hold
 * the records of AWS's "Flow log record examples" page
 * (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html: accepted and
 * rejected traffic, no data and skipped records, TCP flag sequence); `vpc-eks-v5.log` is written
 * by us in a v5 custom format (field list from
 * https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { gzipSync } from 'node:zlib';
import { parseVpcFields } from '../../parsers/flows/vpc';
import { FlowFieldError } from '../../parsers/flows';
import { collect, samplePath, sampleStream, textStream } from './helpers';
import { firehoseBody } from './firehose';

const lines = (name: string): string[] => fs.readFileSync(samplePath(name), 'utf8').trimEnd().split('\n');

/** A CloudWatch Logs subscription payload of these records (the shape its documentation gives). */
function cwlPayload(records: string[], stream = 'eni-1235b8ca123456789-all'): string {
  return JSON.stringify({
    messageType: 'DATA_MESSAGE',
    owner: '123456789010',
    logGroup: 'vpc-flow-logs',
    logStream: stream,
    subscriptionFilters: ['to-eastwatch'],
    logEvents: records.map((m, i) => ({ id: String(36000000000000000000000000000000000000000000000000000000 + i), timestamp: 1566848875000, message: m })),
  });
}
const gz64 = (s: string): string => gzipSync(Buffer.from(s, 'utf8')).toString('base64');

describe('flows: AWS VPC Flow Logs', () => {
  it('default format (v2) without a header: ACCEPT, REJECT, NODATA and SKIPDATA', async () => {
    const { records, errors, summary } = await collect(sampleStream('vpc-default.log'));
    assert.deepEqual(errors, []);
    assert.equal(summary.format, 'aws-vpc');
    assert.equal(summary.noData, 1);
    assert.equal(summary.skipData, 1);
    assert.equal(records.length, 2);
    const [ssh, rdp] = records;
    assert.deepEqual(
      [ssh.ts, ssh.orig_h, ssh.orig_p, ssh.resp_h, ssh.resp_p, ssh.proto, ssh.orig_pkts, ssh.orig_ip_bytes, ssh.duration, ssh.conn_state],
      [1418530010, '172.31.16.139', 20641, '172.31.16.21', 22, 'tcp', 20, 4249, 60, 'OTH'],
    );
    assert.equal(rdp.conn_state, 'REJ');
    assert.equal(rdp.resp_p, 3389);
    assert.match(ssh.community_id, /^1:/);
    assert.notEqual(ssh.uid, rdp.uid);
  });

  it('the same records with the default header line give the same uids (stable from the flow identity)', async () => {
    const text =
      'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n' +
      fs.readFileSync(samplePath('vpc-default.log'), 'utf8');
    const a = await collect(textStream(text));
    const b = await collect(sampleStream('vpc-default.log'));
    assert.deepEqual(a.errors, []);
    assert.equal(a.summary.ignored, 1);
    assert.deepEqual(a.records, b.records);
  });

  it('v3 custom format with tcp-flags: SYN sides are originators, SYN-ACK records are flipped to the responder', async () => {
    // Record by record (stitching off): each record is one direction, marked one-way.
    const { records, errors } = await collect(sampleStream('vpc-tcp-flags-v3.log'), { stitch: false });
    assert.deepEqual(errors, []);
    assert.equal(records.length, 4);
    const [syn1, synack1, syn2, synack2] = records;
    assert.deepEqual(
      [syn1.orig_h, syn1.orig_p, syn1.resp_h, syn1.resp_p, syn1.conn_state, syn1.history, syn1.orig_pkts, syn1.orig_ip_bytes],
      ['52.213.180.42', 43416, '10.0.0.62', 5001, 'S0', 'S', 8, 568],
    );
    // 10.0.0.62:5001 -> client with flags 18: the server's half, oriented client -> server.
    assert.deepEqual(
      [synack1.orig_h, synack1.orig_p, synack1.resp_h, synack1.resp_p, synack1.history, synack1.orig_pkts, synack1.resp_pkts, synack1.resp_ip_bytes],
      ['52.213.180.42', 43416, '10.0.0.62', 5001, 'h', 0, 7, 376],
    );
    assert.equal(synack1.community_id, syn1.community_id);
    assert.notEqual(synack1.uid, syn1.uid);
    assert.equal(syn2.orig_ip_bytes, 100701);
    assert.equal(synack2.resp_pkts, 12);
    assert.equal(new Set(records.map((r) => r.uid)).size, 4);
    assert.ok(records.every((r) => r.observed === 'one-way'));
  });

  it("v3 tcp-flags, stitched: AWS's example is two connections, each with its client's and its server's record", async () => {
    const { records, errors } = await collect(sampleStream('vpc-tcp-flags-v3.log'));
    assert.deepEqual(errors, []);
    assert.deepEqual(
      records.map((r) => [
        r.orig_h,
        r.orig_p,
        r.resp_h,
        r.resp_p,
        r.orig_pkts,
        r.orig_ip_bytes,
        r.resp_pkts,
        r.resp_ip_bytes,
        r.conn_state,
        r.history,
        r.observed,
      ]),
      [
        // Client SYN (flags 2) and server SYN-ACK (18) in the same window: established, not closed.
        ['52.213.180.42', 43416, '10.0.0.62', 5001, 8, 568, 7, 376, 'S1', 'Sh', undefined],
        // 100701 IP bytes in 70 packets: data beyond what headers and options account for.
        ['52.213.180.42', 43418, '10.0.0.62', 5001, 70, 100701, 12, 632, 'S1', 'ShD', undefined],
      ],
    );
    assert.deepEqual(
      records.map((r) => [r.ts, r.duration]),
      [
        [1566848875, 58],
        [1566848875, 58],
      ],
    );
  });

  it('v5 custom format: pkt-srcaddr/pkt-dstaddr addresses, FIN flags, UDP, ICMP, REJECT, NODATA', async () => {
    const { records, errors, summary } = await collect(sampleStream('vpc-eks-v5.log'), { stitch: false });
    assert.deepEqual(errors, []);
    assert.equal(summary.noData, 1);
    assert.equal(records.length, 5);
    const [out, back, dns, icmp, ssh] = records;
    // The pod's own address (pkt-srcaddr), not the node ENI's.
    assert.equal(out.orig_h, '10.0.1.57');
    assert.equal(out.conn_state, 'SH'); // SYN and FIN (3) from the originator, no SYN-ACK in this record
    assert.equal(out.history, 'SF');
    assert.deepEqual(
      [back.orig_h, back.resp_h, back.conn_state, back.history, back.resp_pkts, back.resp_ip_bytes],
      ['10.0.1.57', '52.218.200.1', 'SHR', 'hf', 10, 9840],
    );
    assert.equal(back.local_orig, true);
    assert.equal(back.local_resp, false);
    assert.deepEqual([dns.proto, dns.conn_state, dns.history, dns.resp_p], ['udp', 'S0', 'D', 53]);
    assert.deepEqual([icmp.proto, icmp.ip_proto, icmp.duration, icmp.orig_pkts], ['icmp', 1, 3, 4]);
    assert.deepEqual([ssh.conn_state, ssh.orig_h, ssh.resp_p], ['REJ', '198.51.100.7', 22]);
  });

  it('v5 custom format, stitched: the pod to S3 and back is one connection closed both ways; the rest stay one-way', async () => {
    const { records, errors } = await collect(sampleStream('vpc-eks-v5.log'));
    assert.deepEqual(errors, []);
    assert.equal(records.length, 4);
    const s3 = records.find((r) => r.resp_p === 443);
    assert.ok(s3);
    assert.deepEqual(
      [s3.orig_h, s3.orig_p, s3.resp_h, s3.orig_pkts, s3.orig_ip_bytes, s3.resp_pkts, s3.resp_ip_bytes, s3.conn_state, s3.history, s3.observed],
      ['10.0.1.57', 40112, '52.218.200.1', 12, 5120, 10, 9840, 'SF', 'ShDdFf', undefined],
    );
    assert.deepEqual([s3.local_orig, s3.local_resp], [true, false]);
    assert.deepEqual(
      records.filter((r) => r !== s3).map((r) => [r.resp_p, r.observed]),
      [
        [53, 'one-way'],
        [0, 'one-way'],
        [22, 'one-way'],
      ],
    );
  });

  it('bad lines are rejected with line number and reason; good lines are kept', async () => {
    const lines = fs.readFileSync(samplePath('vpc-tcp-flags-v3.log'), 'utf8').trimEnd().split('\n');
    const bad = [
      lines[0],
      lines[1],
      lines[2].replace(' 5001 43416 ', ' abc 43416 '),
      lines[3].replace(' 52.213.180.42 10.0.0.62 ', ' 52.213.180.999 10.0.0.62 '),
      lines[4].split(' ').slice(0, 10).join(' '),
      lines[4].replace(' ACCEPT ', ' MAYBE '),
      lines[4],
    ].join('\n');
    const { records, errors } = await collect(textStream(bad, 7), { source: 'upload-1' });
    assert.equal(records.length, 2);
    assert.deepEqual(
      errors.map((e) => e.message),
      [
        'upload-1: line 3: srcport: "abc" is not a port',
        'upload-1: line 4: srcaddr: "52.213.180.999" is not an IP address',
        'upload-1: line 5: 10 fields where the header names 21',
        'upload-1: line 6: action: "MAYBE" is not ACCEPT or REJECT',
      ],
    );
    assert.equal(errors[0].field, 'srcport');
    assert.equal(errors[0].line, 3);
  });

  describe('deliveries without a header line: a declared field list, wrappers, Transit Gateway', () => {
    const v3 = lines('vpc-tcp-flags-v3.log');
    const header = v3[0];
    const body = v3.slice(1);
    const formatString = header
      .split(' ')
      .map((n) => `\${${n}}`)
      .join(' ');

    it('the field list as AWS writes the LogFormat ($-braced names) or comma-separated gives the records the header gives', async () => {
      const withHeader = await collect(sampleStream('vpc-tcp-flags-v3.log'));
      assert.ok(withHeader.records.length > 0);
      for (const spec of [formatString, header.split(' ').join(',')]) {
        const got = await collect(textStream(`${body.join('\n')}\n`), { vpcFields: parseVpcFields(spec) });
        assert.deepEqual(got.errors, []);
        assert.equal(got.summary.format, 'aws-vpc');
        assert.deepEqual(got.records, withHeader.records);
      }
      // Without it: each line says why, and names the remedy.
      const bare = await collect(textStream(`${body.join('\n')}\n`), { format: 'aws-vpc' });
      assert.equal(bare.records.length, 0);
      assert.equal(bare.errors.length, body.length);
      assert.match(
        bare.errors[0].message,
        /^test: line 1: no header line naming the fields, and 21 fields are not the default format's 14 \(declare them: fields=\)$/,
      );
    });

    it('a field list that cannot be right is refused with the reason', () => {
      const bad = (spec: string, re: RegExp): void =>
        assert.throws(
          () => parseVpcFields(spec),
          (e: unknown) => e instanceof FlowFieldError && re.test(e.message),
        );
      bad(`\${version} account-id \${srcaddr}`, /fields: "account-id" is outside any \$\{\.\.\.\} in the format string/);
      bad('version,srcaddr,dstaddr,protocol,start,srcaddr', /srcaddr: named twice in the field list/);
      bad('version,srcaddr,dstaddr,start', /protocol: missing from the field list/);
      bad('version,src_addr', /fields: "src_addr" is not a field name/);
      bad(' ', /empty field list/);
    });

    it('CloudWatch Logs: {"message"} events, the subscription payload, and its gzip+base64 Firehose forms read as the lines', async () => {
      const withHeader = await collect(sampleStream('vpc-tcp-flags-v3.log'));
      const fields = parseVpcFields(formatString);
      const payload = cwlPayload(body);
      const forms: [string, string][] = [
        ['message events', `${body.map((m) => JSON.stringify({ message: m })).join('\n')}\n`],
        ['subscription payload', `${payload}\n`],
        ['a base64 gzip line (a Kinesis record)', `${gz64(payload)}\n`],
        [
          'Firehose records of {"message"} events, base64 without gzip',
          `${JSON.stringify({ records: body.map((m) => ({ data: Buffer.from(JSON.stringify({ message: m })).toString('base64') })) })}\n`,
        ],
        [
          'Firehose HTTP endpoint request',
          `${JSON.stringify({ requestId: 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f', timestamp: 1566848936000, records: [{ data: gz64(cwlPayload(body.slice(0, 3))) }, { data: gz64(cwlPayload(body.slice(3))) }] })}\n`,
        ],
      ];
      for (const [what, text] of forms) {
        const got = await collect(textStream(text), { vpcFields: fields });
        assert.deepEqual(got.errors, [], what);
        assert.deepEqual(got.records, withHeader.records, what);
      }
      // Sniffed without a format: the default-format records inside a payload say what they are.
      const dflt = lines('vpc-default.log');
      const plain = await collect(sampleStream('vpc-default.log'));
      const sniffed = await collect(textStream(`${JSON.stringify({ messageType: 'CONTROL_MESSAGE', logEvents: [] })}\n${gz64(cwlPayload(dflt))}\n`));
      assert.equal(sniffed.summary.format, 'aws-vpc');
      assert.deepEqual(sniffed.errors, []);
      assert.deepEqual(sniffed.records, plain.records);
    });

    it('a delivery with records that cannot be read reports them by line and index and keeps the rest, and the lines after it', async () => {
      const fields = parseVpcFields(formatString);
      const broken = [body[0], body[1].replace(' 6 ', ' tcp '), body[2]];
      const text = `${cwlPayload(broken)}\nnot a record\n${body
        .slice(3)
        .map((m) => JSON.stringify({ message: m }))
        .join('\n')}\n`;
      const got = await collect(textStream(text), { vpcFields: fields });
      assert.deepEqual(
        got.errors.map((e) => [e.line, e.field, e.reason]),
        [
          [1, 'protocol', 'logEvents[1]: "tcp" is not a count'],
          [2, undefined, '3 fields where the field list names 21'],
        ],
      );
      const all = await collect(textStream(`${body.join('\n')}\n`), { vpcFields: fields, stitch: false });
      const kept = await collect(textStream(text), { vpcFields: fields, stitch: false });
      assert.equal(kept.records.length, all.records.length - 1);
    });

    describe('a Firehose HTTP endpoint request of several MB: one JSON document, not a line', () => {
      const MiB = 1 << 20;
      // 32 Firehose records of 2000 CloudWatch log events: about 3 MB of JSON, 64,000 VPC records.
      const fh = firehoseBody(32, 2000);

      it('is read whole under the document bound, every log event a record', async () => {
        assert.ok(fh.body.length > 2.5 * MiB, `${fh.body.length} bytes`);
        const got = await collect(textStream(`${fh.body}\n`), { format: 'aws-vpc', maxLineBytes: MiB, maxDocumentBytes: 64 * MiB, stitch: false });
        assert.deepEqual(got.errors, []);
        assert.equal(got.records.length, fh.messages.length);
        assert.equal(got.summary.lines, 1);
        // The same records as the log events sent as lines.
        const asLines = await collect(textStream(`${fh.messages.join('\n')}\n`), { format: 'aws-vpc', stitch: false });
        assert.deepEqual(got.records, asLines.records);
        // Sniffed without a format too.
        const sniffed = await collect(textStream(`${fh.body}\n`), { maxLineBytes: MiB, maxDocumentBytes: 64 * MiB, stitch: false });
        assert.equal(sniffed.summary.format, 'aws-vpc');
        assert.equal(sniffed.records.length, fh.messages.length);
      });

      it('without the document bound it is one line over the line limit, as before', async () => {
        const got = await collect(textStream(`${fh.body}\n`), { format: 'aws-vpc', maxLineBytes: MiB, stitch: false });
        assert.equal(got.records.length, 0);
        assert.deepEqual(
          got.errors.map((e) => [e.line, e.reason]),
          [[1, `longer than the ${MiB}-byte line limit; skipped`]],
        );
      });

      it('over the document bound it is refused naming that bound; NDJSON lines get no such exception', async () => {
        const got = await collect(textStream(`${fh.body}\n`), { format: 'aws-vpc', maxLineBytes: MiB, maxDocumentBytes: 2 * MiB });
        assert.deepEqual(
          got.errors.map((e) => [e.line, e.reason]),
          [[1, `a delivery longer than the ${2 * MiB}-byte document limit; skipped`]],
        );
        // A long line of another format is not a delivery: the line limit holds.
        const zeek = await collect(textStream(`{"id.orig_h":"10.0.0.1","x":"${'a'.repeat(MiB + 10)}"}\n`), { maxLineBytes: MiB, maxDocumentBytes: 64 * MiB });
        assert.deepEqual(
          zeek.errors.map((e) => e.reason),
          [`longer than the ${MiB}-byte line limit; skipped`],
        );
      });

      it('each log event is checked as a line: the unreadable ones are listed by place and field, the rest kept', async () => {
        const bad = firehoseBody(32, 2000, (m, i, j) =>
          i === 3 && j === 17
            ? m.replace(' 6 ', ' tcp ')
            : i === 20 && j === 1999
              ? m.split(' ').slice(0, 9).join(' ')
              : i === 7 && j === 5
                ? `${m} ${'x'.repeat(2000)}`
                : m,
        );
        const got = await collect(textStream(`${bad.body}\nnot a record\n`), {
          format: 'aws-vpc',
          maxLineBytes: 1024,
          maxDocumentBytes: 64 * MiB,
          stitch: false,
        });
        assert.deepEqual(
          got.errors.map((e) => [e.line, e.field, e.reason]),
          [
            [1, 'protocol', 'records[3].logEvents[17]: "tcp" is not a count'],
            [1, undefined, 'records[7].logEvents[5]: longer than the 1024-byte line limit; skipped'],
            [1, undefined, 'records[20].logEvents[1999]: 9 fields where the header names 14'],
            [2, undefined, '3 fields where the header names 14'],
          ],
        );
        assert.equal(got.records.length, bad.messages.length - 3);
      });

      it('a Firehose record whose data is not gzip base64 costs that record only', async () => {
        const o = JSON.parse(fh.body) as { records: { data: unknown }[] };
        o.records[5].data = 42;
        o.records[9].data = Buffer.from([0x1f, 0x8b, 0x08, 0, 1, 2, 3]).toString('base64');
        const got = await collect(textStream(`${JSON.stringify(o)}\n`), { format: 'aws-vpc', maxLineBytes: MiB, maxDocumentBytes: 64 * MiB, stitch: false });
        assert.deepEqual(
          got.errors.map((e) => [e.line, e.field]),
          [
            [1, 'records[5].data'],
            [1, 'records[9].data'],
          ],
        );
        assert.match(got.errors[1].reason, /gzip data that does not inflate/);
        assert.equal(got.records.length, fh.messages.length - 4000);
      });
    });

    it("Transit Gateway flow logs: AWS's TGW fields, the two directions through one attachment stitched into one connection", async () => {
      // The default Transit Gateway format's fields (version 6), in the order AWS's documentation
      // lists them (https://docs.aws.amazon.com/vpc/latest/tgw/tgw-flow-logs.html#flow-log-records);
      // the records are written by us in that format (no public sample file), one per direction.
      const tgwFields =
        'version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service pkt-dst-aws-service';
      const fmt = tgwFields
        .split(' ')
        .map((n) => `\${${n}}`)
        .join(' ');
      const common =
        'TransitGateway 123456789010 tgw-0123456789abcdef0 tgw-attach-0aaaaaaaaaaaaaaaa 123456789010 210987654321 vpc-0aaaaaaaaaaaaaaaa vpc-0bbbbbbbbbbbbbbbb subnet-0aaaaaaaaaaaaaaaa subnet-0bbbbbbbbbbbbbbbb eni-0aaaaaaaaaaaaaaaa eni-0bbbbbbbbbbbbbbbb use1-az1 use1-az2 tgw-attach-0bbbbbbbbbbbbbbbb';
      const out = `6 ${common} 10.0.1.20 10.1.2.30 49152 5432 6 14 2210 1700000000 1700000060 OK IPv4 0 0 0 0 3 us-east-1 ingress - -`;
      const back = `6 ${common} 10.1.2.30 10.0.1.20 5432 49152 6 12 9876 1700000000 1700000060 OK IPv4 0 0 0 0 19 us-east-1 egress - -`;
      const { records, errors } = await collect(textStream(`${out}\n${back}\n`), { vpcFields: parseVpcFields(fmt) });
      assert.deepEqual(errors, []);
      assert.equal(records.length, 1);
      const r = records[0];
      assert.deepEqual(
        [r.orig_h, r.orig_p, r.resp_h, r.resp_p, r.proto, r.orig_pkts, r.orig_ip_bytes, r.resp_pkts, r.resp_ip_bytes, r.ts, r.duration, r.observed],
        ['10.0.1.20', 49152, '10.1.2.30', 5432, 'tcp', 14, 2210, 12, 9876, 1700000000, 60, undefined],
      );
      // The same two records seen at another attachment are another observation point: not paired across.
      const other = back.replace('tgw-attach-0aaaaaaaaaaaaaaaa 123456789010', 'tgw-attach-0cccccccccccccccc 123456789010');
      const apart = await collect(textStream(`${out}\n${other}\n`), { vpcFields: parseVpcFields(fmt) });
      assert.equal(apart.records.length, 2);
      assert.ok(apart.records.every((x) => x.observed === 'one-way'));
    });
  });
});
