#!/usr/bin/env python3
"""Field-by-field agreement between tshark's HTTP/2 decode of samples/h2/h2c.pcap and eastwatch's
http2 records (ndjson, one per line, as `eastwatch analyze --format ndjson --out DIR` writes
http2.ndjson). Usage: tshark-compare.py h2c.pcap http2.ndjson"""
import json, subprocess, sys
from urllib.parse import unquote

pcap, ours_path = sys.argv[1], sys.argv[2]
PORTS = {50051: 'http2', 8081: 'http'}
cmd = ['tshark', '-r', pcap, '-d', 'tcp.port==50051,http2', '-d', 'tcp.port==8081,http', '-T', 'fields', '-E', 'separator=|', '-E', 'aggregator=^',
       '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'http2.streamid', '-e', 'http2.type', '-e', 'http2.length', '-e', 'http2.flags',
       '-e', 'http2.header.count', '-e', 'http2.header.name', '-e', 'http2.header.value', '-e', 'http2.pad_length']
lines = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
streams = {}
for line in lines:
    sp, dp, sids, types, lens, flags, counts, names, values, pads = (line.split('|') + [''] * 10)[:10]
    if sids == '':
        continue
    server = int(sp) in PORTS
    port = int(sp) if server else int(dp)
    sids, types, lens = sids.split('^'), types.split('^'), lens.split('^')
    counts = [int(c) for c in counts.split('^')] if counts else []
    names = names.split('^') if names else []
    values = values.split('^') if values else []
    pads = [int(p) for p in pads.split('^')] if pads else []
    hi = 0
    for sid, t, ln in zip(sids, types, lens):
        sid, t, ln = int(sid), int(t), int(ln)
        if sid == 0:
            continue
        s = streams.setdefault((port, sid), {'req': {}, 'resp': {}, 'req_body': 0, 'resp_body': 0})
        if t == 1:
            n = counts.pop(0) if counts else 0
            side = s['resp'] if server else s['req']
            for k in range(n):
                side.setdefault(names[hi + k], values[hi + k])
                if names[hi + k] in ('grpc-status', 'grpc-message'):
                    side[names[hi + k]] = values[hi + k]
            hi += n
        elif t == 0:
            s['resp_body' if server else 'req_body'] += ln
ours = {}
for line in open(ours_path):
    r = json.loads(line)
    ours[(r['id.resp_p'], r['stream_id'])] = r

FIELDS = [
    ('method', lambda s: s['req'].get(':method')), ('uri', lambda s: s['req'].get(':path')), ('host', lambda s: s['req'].get(':authority')),
    ('scheme', lambda s: s['req'].get(':scheme')), ('user_agent', lambda s: s['req'].get('user-agent')),
    ('orig_content_type', lambda s: s['req'].get('content-type')), ('status_code', lambda s: int(s['resp'][':status']) if ':status' in s['resp'] else None),
    ('resp_content_type', lambda s: s['resp'].get('content-type')),
    ('grpc_status', lambda s: int(s['resp']['grpc-status']) if 'grpc-status' in s['resp'] else None),
    ('grpc_message', lambda s: unquote(s['resp']['grpc-message']) if 'grpc-message' in s['resp'] else None),
    ('request_body_len', lambda s: s['req_body']), ('response_body_len', lambda s: s['resp_body']),
]
agree = total = 0
for key, s in sorted(streams.items()):
    r = ours.get(key)
    for name, get in FIELDS:
        want = get(s)
        if r is not None and r.get('upgraded') and name in ('method', 'uri', 'host', 'scheme', 'user_agent'):
            continue  # stream 1 of an h2c upgrade: its request was HTTP/1.1, which tshark shows in http, not http2
        total += 1
        got = None if r is None else r.get(name)
        if got == want:
            agree += 1
        else:
            print(f'{key} {name}: tshark {want!r} eastwatch {got!r}')
print(f'streams: tshark {len(streams)}, eastwatch {len(ours)}; fields agreeing {agree}/{total}')
sys.exit(0 if agree == total and len(streams) == len(ours) else 1)
