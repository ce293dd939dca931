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
import { collect, samplePath, sampleStream, textStream } from './helpers';

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
});
