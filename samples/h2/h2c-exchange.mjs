// Real HTTP/2 cleartext traffic over loopback, for samples/h2/make.sh to capture:
//  1. prior knowledge (port 50051): Node's http2 client and server; plain requests and gRPC-shaped
//     calls (content-type application/grpc, length-prefixed messages, grpc-status trailers);
//  2. h2c upgrade (port 8081): curl --http2 (nghttp2) sends the HTTP/1.1 Upgrade request; this
//     script's server answers 101 and then speaks HTTP/2 itself, frame by frame.
// What each side actually sent and received is written to the JSON file given as argument: the
// test checks the analyzer's records against it.
import http2 from 'node:http2';
import net from 'node:net';
import fs from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const out = process.argv[2];
const H2_PORT = 50051;
const UPGRADE_PORT = 8081;
const UA = 'eastwatch-h2-sample/1.0';
const seen = { prior: [], upgrade: null };

/** gRPC length-prefixed message: compressed flag, 4-byte length, payload. */
const grpcFrame = (payload) => Buffer.concat([Buffer.from([0]), Buffer.from(Uint32Array.of(payload.length).buffer).reverse(), payload]);

function priorKnowledgeServer() {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = headers[':path'];
      const rec = {
        stream_id: stream.id,
        method: headers[':method'],
        path,
        authority: headers[':authority'],
        scheme: headers[':scheme'],
        user_agent: headers['user-agent'] ?? null,
        content_type: headers['content-type'] ?? null,
        request_body_len: body.length,
      };
      seen.prior.push(rec);
      if (path === '/demo.v1.Greeter/SayHello') {
        const reply = grpcFrame(Buffer.from(`hello ${body.subarray(5).toString()}`));
        stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'OK' }));
        stream.end(reply);
        Object.assign(rec, { status: 200, resp_content_type: 'application/grpc+proto', response_body_len: reply.length, grpc_status: 0, grpc_message: 'OK' });
      } else if (path === '/demo.v1.Greeter/Fail') {
        // Trailers-only response: status and grpc-status in one HEADERS frame that ends the stream.
        const msg = 'user "émile" not found: 100%';
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': encodeURIComponent(msg) },
          { endStream: true },
        );
        Object.assign(rec, { status: 200, resp_content_type: 'application/grpc', response_body_len: 0, grpc_status: 5, grpc_message: msg });
      } else if (path === '/upload') {
        const reply = Buffer.from(JSON.stringify({ received: body.length }));
        stream.respond({ ':status': 201, 'content-type': 'application/json' });
        stream.end(reply);
        Object.assign(rec, { status: 201, resp_content_type: 'application/json', response_body_len: reply.length });
      } else {
        const reply = Buffer.from('hello over h2c\n'.repeat(path === '/big' ? 1200 : 1));
        stream.respond({ ':status': path === '/missing' ? 404 : 200, 'content-type': 'text/plain; charset=utf-8' });
        stream.end(reply);
        Object.assign(rec, { status: path === '/missing' ? 404 : 200, resp_content_type: 'text/plain; charset=utf-8', response_body_len: reply.length });
      }
    });
  });
  return new Promise((resolve) => server.listen(H2_PORT, '127.0.0.1', () => resolve(server)));
}

function request(client, headers, body) {
  return new Promise((resolve, reject) => {
    const req = client.request(headers, { endStream: body === undefined });
    req.on('response', () => undefined);
    req.on('data', () => undefined);
    req.on('end', resolve);
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

async function priorKnowledgeClient() {
  const client = http2.connect(`http://127.0.0.1:${H2_PORT}`);
  const common = { ':authority': `greeter.demo.svc.cluster.local:${H2_PORT}`, 'user-agent': UA };
  await request(client, { ...common, ':method': 'GET', ':path': '/hello' });
  await request(client, { ...common, ':method': 'GET', ':path': '/missing' });
  await request(client, { ...common, ':method': 'POST', ':path': '/upload', 'content-type': 'application/octet-stream' }, Buffer.alloc(20000, 7));
  const grpc = { ...common, 'user-agent': 'grpc-node-js/1.10.0', ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' };
  await request(client, { ...grpc, ':path': '/demo.v1.Greeter/SayHello' }, grpcFrame(Buffer.from('world')));
  await request(client, { ...grpc, ':path': '/demo.v1.Greeter/Fail' }, grpcFrame(Buffer.from('émile')));
  // Concurrent streams: frames of several streams interleave.
  await Promise.all([1, 2, 3].map((i) => request(client, { ...common, ':method': 'GET', ':path': i === 2 ? '/big' : `/hello?n=${i}` })));
  await new Promise((r) => client.close(r));
}

/** A minimal h2c-upgrade server: 101, then SETTINGS, and stream 1's response as HEADERS + DATA. */
function upgradeServer() {
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    let upgraded = false;
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        buf = buf.subarray(end + 4);
        upgraded = true;
        const lines = head.split('\r\n');
        const hdr = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
        const [method, uri] = lines[0].split(' ');
        seen.upgrade = { method, uri, host: hdr.host, user_agent: hdr['user-agent'], upgrade: hdr.upgrade };
        // The 101 and the server preface (an empty SETTINGS frame) in one write: one segment.
        sock.write(
          Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0))]),
        );
      }
      // Wait for the client preface and its SETTINGS, then acknowledge and answer stream 1.
      if (upgraded && buf.length >= 24 + 9 && !sock.answered) {
        sock.answered = true;
        const body = Buffer.from('upgraded to h2c\n');
        // :status 200 (static index 8) and content-type (index 31) as a literal without indexing.
        const ct = Buffer.from('text/plain');
        const block = Buffer.concat([Buffer.from([0x88, 0x0f, 31 - 15, ct.length]), ct]);
        sock.write(Buffer.concat([frame(4, 1, 0, Buffer.alloc(0)), frame(1, 4, 1, block), frame(0, 1, 1, body)]));
        seen.upgrade.status = 200;
        seen.upgrade.resp_content_type = 'text/plain';
        seen.upgrade.response_body_len = body.length;
      }
    });
    sock.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(UPGRADE_PORT, '127.0.0.1', () => resolve(server)));
}

function frame(type, flags, sid, payload) {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(sid, 5);
  return Buffer.concat([h, payload]);
}

const s1 = await priorKnowledgeServer();
await priorKnowledgeClient();
s1.close();
const s2 = await upgradeServer();
// Asynchronously: the server answering curl runs in this process.
await promisify(execFile)('curl', ['-s', '-o', '/dev/null', '--http2', '-A', UA, `http://127.0.0.1:${UPGRADE_PORT}/upgrade-me`]);
s2.close();
seen.prior.sort((a, b) => a.stream_id - b.stream_id);
fs.writeFileSync(out, `${JSON.stringify(seen, null, 2)}\n`);
