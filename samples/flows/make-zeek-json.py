#!/usr/bin/env python3
"""Zeek ASCII conn.log -> Zeek JSON conn.log (the JSON writer's conventions: unset fields omitted,
counts as integers, intervals/times as numbers, bools as true/false, sets as arrays).

btest baselines mask timestamps (XXXXXXXXXX.XXXXXX); each connection's ts is restored as the
time of its first packet in the capture, from the corpus' tshark oracle (<pcap>.tshark.tsv),
matching the 5-tuple in either direction.

usage: make-zeek-json.py CONN_LOG TSHARK_TSV > OUT.json
"""
import json
import sys

conn_log, tshark_tsv = sys.argv[1], sys.argv[2]

first = {}
with open(tshark_tsv) as f:
    cols = f.readline().rstrip('\n').split('\t')
    ix = {c: i for i, c in enumerate(cols)}
    for line in f:
        c = line.rstrip('\n').split('\t')
        src = c[ix['ip.src']] or c[ix['ipv6.src']]
        dst = c[ix['ip.dst']] or c[ix['ipv6.dst']]
        sp = c[ix['tcp.srcport']] or c[ix['udp.srcport']]
        dp = c[ix['tcp.dstport']] or c[ix['udp.dstport']]
        t = c[ix['frame.time_epoch']]
        for k in ((src, sp, dst, dp), (dst, dp, src, sp)):
            first.setdefault(k, t)

fields, types, sep, set_sep, unset, empty = None, None, '\t', ',', '-', '(empty)'
out = sys.stdout
for line in open(conn_log):
    line = line.rstrip('\n')
    if line.startswith('#separator '):
        sep = bytes(line.split(' ', 1)[1], 'ascii').decode('unicode_escape')
        continue
    if line.startswith('#'):
        key, _, val = line[1:].partition(sep)
        if key == 'set_separator': set_sep = val
        elif key == 'unset_field': unset = val
        elif key == 'empty_field': empty = val
        elif key == 'fields': fields = val.split(sep)
        elif key == 'types': types = val.split(sep)
        continue
    if not line or fields is None:
        continue
    row = dict(zip(fields, line.split(sep)))
    typ = dict(zip(fields, types))
    if row['ts'].startswith('X'):
        t = first[(row['id.orig_h'], row['id.orig_p'], row['id.resp_h'], row['id.resp_p'])]
        row['ts'] = '%.6f' % float(t)
    o = {}
    for k in fields:
        v = row[k]
        if v == unset:
            continue
        ty = typ[k]
        if ty in ('count', 'port', 'int'):
            o[k] = int(v)
        elif ty in ('time', 'interval', 'double'):
            o[k] = float(v)
        elif ty == 'bool':
            o[k] = v == 'T'
        elif ty.startswith('set[') or ty.startswith('vector['):
            o[k] = [] if v == empty else v.split(set_sep)
        else:
            o[k] = '' if v == empty else v
    out.write(json.dumps(o, separators=(',', ':')) + '\n')
