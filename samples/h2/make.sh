#!/usr/bin/env bash
# Regenerates samples/h2/h2c.pcap and h2c.expected.json: real HTTP/2 cleartext traffic between
# Node's http2 client and server (prior knowledge, gRPC-shaped calls) and an h2c upgrade from
# curl --http2, over loopback, captured with tcpdump. Needs root (or CAP_NET_RAW), node >= 20,
# tcpdump and curl with HTTP2. The capture differs on every run (ports, times, Node's HPACK
# choices); the expected file is written by the same run from what the endpoints saw.
set -euo pipefail
cd "$(dirname "$0")"
tcpdump -i lo -U -s 0 -w h2c.pcap 'tcp port 50051 or tcp port 8081' 2>/dev/null &
TCPDUMP=$!
trap 'kill "$TCPDUMP" 2>/dev/null || true' EXIT
sleep 1
node h2c-exchange.mjs h2c.expected.json
sleep 1
kill "$TCPDUMP"
wait "$TCPDUMP" || true
trap - EXIT
ls -l h2c.pcap h2c.expected.json
