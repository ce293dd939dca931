/**
 * The UI's DOM-free helpers under Node: the query text it writes must mean what it says to the
 * service's real parser, the autocomplete must find the word being typed, the map must group
 * edges and mark denials and alerts, and the wire readers must read what the service sends.
 */
import assert from 'node:assert/strict';
import { parseQuery, type Query } from '../../src/query';
import { CONN_FIELDS, EITHER_ALIASES } from '../../src/query/fields';
import { and, anyOf, applySuggestion, clause, endQuery, fieldTokenAt, quoteValue, suggestFields } from '../../src/ui/lib/query';
import { blockPositions, buildGraph, fitBlocks, groupGraph, portsLabel, EDGE_QUERY_PORTS } from '../../src/ui/lib/map';
import { computeLayout, layoutRequest, positionsOf } from '../../src/ui/lib/layout';
import { axisTimes, bucketBars, fmtInterval, niceInterval, resolveTime, isoOf, spanRange } from '../../src/ui/lib/time';
import { errorOf, parseEvents, type ServerEvent } from '../../src/ui/lib/wire';
import { addClause, evidenceNames, pairWindow, RECORD_QUERY_FIELDS, recordPivot, samePairQuery, SUMMARY_FIELDS } from '../../src/ui/lib/pivot';
import type { Alert, Edge } from '../../src/ui/lib/types';

/** The field/value terms of a parsed query, in order. */
function terms(q: Query, out: [string, string, string][] = []): [string, string, string][] {
  switch (q.kind) {
    case 'and':
    case 'or':
      for (const c of q.children) terms(c, out);
      break;
    case 'not':
      terms(q.child, out);
      break;
    case 'term': {
      const v = q.value;
      out.push([q.field.name, q.kind, v.kind === 'ip' ? v.text : v.kind === 'date' ? String(v.v.sec) : String(v.v)]);
      break;
    }
    case 'wildcard':
      out.push([q.field.name, q.kind, q.parts.map((p) => (p.t === 'lit' ? p.s : p.t)).join('')]);
      break;
    default:
      out.push(['field' in q ? q.field.name : '', q.kind, '']);
  }
  return out;
}

const FIELDS = [
  ...CONN_FIELDS.fields.map((d) => ({ name: d.name, type: d.type, aliases: [...d.aliases], description: d.description })),
  ...EITHER_ALIASES.map((e) => ({ name: e.alias, type: 'either', aliases: [], description: e.fields.join(' or ') })),
];

describe('UI helpers: query text', () => {
  it('quotes values so that the service parser reads them literally', () => {
    const values = ['shop', 'my app', 'say "hi"', 'back\\slash', 'and', 'OR', 'not', 'api-*', 'a(b)', 'x:y', "it's", 'node-1.example'];
    for (const v of values) {
      const q = parseQuery(clause('eastwatch.source.workload', v));
      assert.deepEqual(terms(q), [['eastwatch.source.workload', 'term', v]], `value ${JSON.stringify(v)} as ${quoteValue(v)}`);
    }
    assert.equal(quoteValue('shop'), 'shop');
    assert.equal(quoteValue('my app'), '"my app"');
    assert.deepEqual(terms(parseQuery(clause('source.ip', 'fe80::1'))), [['source.ip', 'term', 'fe80::1']]);
  });

  it('builds edge and evidence queries the parser accepts, with the meant fields', () => {
    const q = and(
      endQuery('source', { namespace: 'shop', workload: 'frontend' }),
      endQuery('destination', { ip: '10.96.12.34' }),
      clause('destination.port', 8080),
    );
    assert.equal(q, 'eastwatch.source.namespace:shop and eastwatch.source.workload:frontend and destination.ip:10.96.12.34 and destination.port:8080');
    assert.deepEqual(terms(parseQuery(q)), [
      ['eastwatch.source.namespace', 'term', 'shop'],
      ['eastwatch.source.workload', 'term', 'frontend'],
      ['destination.ip', 'term', '10.96.12.34'],
      ['destination.port', 'term', '8080'],
    ]);
    const uids = ['CMPU0kfBUegrYrtUA', 'C1GcolQnUypKDN6nXg', 'Cl1earCa82nFKmmnI'];
    assert.deepEqual(
      terms(parseQuery(anyOf('event.id', uids))).map((t) => t[2]),
      uids,
    );
    // An `or` inside an `and` keeps its meaning.
    const mixed = and('dport:22 or dport:23', 'src:10.0.0.1');
    assert.equal(mixed, '(dport:22 or dport:23) and src:10.0.0.1');
    assert.equal(parseQuery(mixed).kind, 'and');
    assert.equal(and('ns:(a or b)', 'workload:"x or y"', 'dport:1'), 'ns:(a or b) and workload:"x or y" and dport:1');
    assert.equal(and('a:1 || b:2', 'c:3'), '(a:1 || b:2) and c:3');
    assert.equal(and('a:1 or b:2'), 'a:1 or b:2');
  });

  it('finds the field name being typed at the caret', () => {
    assert.deepEqual(fieldTokenAt('dport:22 and sta', 16), { start: 13, end: 16, prefix: 'sta' });
    assert.deepEqual(fieldTokenAt('(sp', 3), { start: 1, end: 3, prefix: 'sp' });
    assert.deepEqual(fieldTokenAt('not dp or x', 6), { start: 4, end: 6, prefix: 'dp' });
    assert.deepEqual(fieldTokenAt('!dp', 3), { start: 1, end: 3, prefix: 'dp' });
    assert.equal(fieldTokenAt('dport:2', 7), null, 'after the colon is a value');
    assert.equal(fieldTokenAt('workload:"my ap', 15), null, 'inside quotes is a literal');
    assert.equal(fieldTokenAt('dport:22 and', 12), null, 'a keyword is not a field');
    assert.equal(fieldTokenAt('bytes>10', 8), null);
  });

  it('replaces the typed word with the taken field and puts the caret after its colon', () => {
    const t1 = fieldTokenAt('dport:22 and sta', 16);
    assert.ok(t1);
    assert.deepEqual(applySuggestion('dport:22 and sta', t1, 'state'), { query: 'dport:22 and state:', caret: 19 });
    // Editing a field name that already has its value keeps the value and the single colon.
    const t2 = fieldTokenAt('stat:REJ', 2);
    assert.ok(t2);
    assert.deepEqual(applySuggestion('stat:REJ', t2, 'state'), { query: 'state:REJ', caret: 6 });
  });

  it('suggests fields by alias and by name from the real field registry', () => {
    const dpo = suggestFields(FIELDS, 'dpo');
    assert.equal(dpo[0].insert, 'dport');
    assert.equal(dpo[0].name, 'destination.port');
    const ns = suggestFields(FIELDS, 'ns').map((s) => s.insert);
    assert.equal(ns[0], 'ns');
    assert.ok(
      suggestFields(FIELDS, 'namespace').some((s) => s.insert === 'eastwatch.source.namespace'),
      'a substring of a name matches too',
    );
    assert.equal(suggestFields(FIELDS, 'zzz').length, 0);
    assert.equal(suggestFields(FIELDS, '', 5).length, 5);
  });
});

describe('UI helpers: pivots', () => {
  it('adds a value (or its negation) to the query so that the parser reads both parts', () => {
    const q = addClause('ns:shop or ns:db', 'destination.port', 8080);
    assert.equal(q, '(ns:shop or ns:db) and destination.port:8080');
    assert.equal(parseQuery(q).kind, 'and');
    const n = addClause('proto:tcp', 'eastwatch.source.workload', 'my app', true);
    assert.equal(n, 'proto:tcp and not eastwatch.source.workload:"my app"');
    const parsed = parseQuery(n);
    assert.equal(parsed.kind, 'and');
    assert.ok(parsed.kind === 'and' && parsed.children[1].kind === 'not');
    assert.deepEqual(terms(parsed), [
      ['network.transport', 'term', 'tcp'],
      ['eastwatch.source.workload', 'term', 'my app'],
    ]);
    assert.equal(addClause('', 'network.protocol', 'http'), 'network.protocol:http');
  });

  it('queries the same originator, responder and port, in a window holding the connection', () => {
    const r = { orig_h: 'fe80::1', resp_h: '10.0.0.2', resp_p: 443, ts: 1768471270.25, duration: 12.5 };
    const q = samePairQuery(r);
    assert.deepEqual(terms(parseQuery(q)), [
      ['source.ip', 'term', 'fe80::1'],
      ['destination.ip', 'term', '10.0.0.2'],
      ['destination.port', 'term', '443'],
    ]);
    const w = pairWindow(r);
    assert.equal(w.from, '2026-01-15T09:01:10.000Z');
    assert.equal(w.to, '2026-01-15T11:01:23.000Z');
    assert.ok((resolveTime(w.from) as number) <= r.ts && (resolveTime(w.to) as number) >= r.ts + r.duration);
    // ICMP and records without a port: the pair is the two addresses.
    assert.equal(samePairQuery({ orig_h: '10.0.0.1', resp_h: '10.0.0.2', ts: 0 }), 'source.ip:10.0.0.1 and destination.ip:10.0.0.2');
  });

  it("pivots a detail panel value to its field's term, and only term-like values", () => {
    assert.deepEqual(recordPivot('resp_p', 8080), { field: 'destination.port', value: '8080' });
    assert.deepEqual(recordPivot('service', ['http']), { field: 'network.protocol', value: 'http' });
    assert.equal(recordPivot('service', ['http', 'tls']), null);
    assert.equal(recordPivot('k8s.orig.workload', ''), null);
    assert.equal(recordPivot('duration', 1.5), null);
    const p = recordPivot('k8s.resp.workload', 'api') as { field: string; value: string };
    assert.deepEqual(terms(parseQuery(addClause('proto:tcp', p.field, p.value))), [
      ['network.transport', 'term', 'tcp'],
      ['eastwatch.destination.workload', 'term', 'api'],
    ]);
  });

  it('names only fields the service knows in the summary, and finds a uid in alert evidence', () => {
    for (const { field } of SUMMARY_FIELDS) assert.ok(CONN_FIELDS.resolve(field), field);
    for (const field of Object.values(RECORD_QUERY_FIELDS)) assert.ok(CONN_FIELDS.resolve(field), field);
    assert.equal(evidenceNames({ evidence: { uids: ['a', 'b'] } }, 'b'), true);
    assert.equal(evidenceNames({ evidence: { uids: ['a'] } }, 'b'), false);
    assert.equal(evidenceNames({ evidence: null }, 'b'), false);
  });
});

describe('UI helpers: service map graph', () => {
  const end = (ip: string, namespace: string | null, workload: string | null, port?: number) => ({
    ip,
    namespace,
    workload,
    ...(port === undefined ? {} : { port }),
  });
  const edges: Edge[] = [
    // Two pods of one workload talking to one service: one edge.
    { source: end('10.244.1.10', 'shop', 'frontend'), destination: end('10.244.2.20', 'shop', 'api', 8080), transport: 'tcp', connections: 5, bytes: 500 },
    { source: end('10.244.1.11', 'shop', 'frontend'), destination: end('10.244.2.21', 'shop', 'api', 8080), transport: 'tcp', connections: 3, bytes: 300 },
    { source: end('10.244.1.10', 'shop', 'frontend'), destination: end('10.244.2.20', 'shop', 'api', 9090), transport: 'tcp', connections: 1, bytes: 10 },
    { source: end('203.0.113.9', null, null), destination: end('10.244.1.10', 'shop', 'frontend', 8080), transport: 'tcp', connections: 2, bytes: 20 },
    { source: end('10.244.1.10', 'shop', 'frontend'), destination: end('10.96.0.10', 'kube-system', null, 53), transport: 'udp', connections: 4, bytes: 40 },
  ];
  const denied: Edge[] = [edges[2]];
  const alert = (id: string, source: Alert['source'], destination: Alert['destination']): Alert => ({
    id,
    detector: 'policy-violation',
    title: id,
    severity: 'high',
    score: 0.9,
    mitre: ['T1599'],
    source,
    destination,
    first_seen: 0,
    last_seen: 0,
    count: 1,
    evidence: { uids: [], figures: {} },
    status: 'open',
    suppressed_by: null,
    note: null,
  });
  const alerts = [
    alert('a-workload', { ip: '10.244.1.10', namespace: 'shop', workload: 'frontend' }, { ip: '10.244.2.20', namespace: 'shop', workload: 'api', port: 9090 }),
    alert('a-ip', { ip: '203.0.113.9' }, { ip: '10.244.1.10', namespace: 'shop', workload: 'frontend' }),
  ];

  it('groups workloads into namespaces and edges by source, destination and transport', () => {
    const g = buildGraph(edges, denied, alerts);
    const ids = g.nodes.map((n) => n.id).sort();
    assert.deepEqual(ids, ['a:10.96.0.10', 'a:203.0.113.9', 'ns:kube-system', 'ns:shop', 'w:shop/api', 'w:shop/frontend']);
    assert.equal(g.nodes.find((n) => n.id === 'w:shop/api')?.parent, 'ns:shop');
    assert.equal(g.nodes.find((n) => n.id === 'a:10.96.0.10')?.parent, 'ns:kube-system');
    assert.equal(g.nodes.find((n) => n.id === 'a:203.0.113.9')?.parent, null);
    assert.deepEqual([...(g.nodes.find((n) => n.id === 'w:shop/frontend')?.ips ?? [])].sort(), ['10.244.1.10', '10.244.1.11']);
    const fa = g.edges.find((e) => e.source === 'w:shop/frontend' && e.target === 'w:shop/api');
    assert.ok(fa);
    assert.deepEqual(fa.ports, [8080, 9090]);
    assert.equal(fa.connections, 9);
    assert.equal(fa.bytes, 810);
    assert.equal(g.edges.length, 3);
  });

  it('marks denied edges and the edges alerts name', () => {
    const g = buildGraph(edges, denied, alerts);
    const by = (s: string, t: string) => g.edges.find((e) => e.source === s && e.target === t);
    assert.equal(by('w:shop/frontend', 'w:shop/api')?.denied, true);
    assert.deepEqual(by('w:shop/frontend', 'w:shop/api')?.alerts, ['a-workload']);
    assert.deepEqual(by('a:203.0.113.9', 'w:shop/frontend')?.alerts, ['a-ip']);
    assert.equal(by('a:203.0.113.9', 'w:shop/frontend')?.denied, false);
    assert.deepEqual(by('w:shop/frontend', 'a:10.96.0.10')?.alerts, []);
  });

  it('gives each edge a query for its connections that the parser accepts', () => {
    const g = buildGraph(edges, denied, alerts);
    const fa = g.edges.find((e) => e.source === 'w:shop/frontend' && e.target === 'w:shop/api');
    assert.equal(
      fa?.query,
      'eastwatch.source.namespace:shop and eastwatch.source.workload:frontend and eastwatch.destination.namespace:shop and eastwatch.destination.workload:api and destination.port:(8080 or 9090) and network.transport:tcp',
    );
    for (const e of g.edges) assert.doesNotThrow(() => parseQuery(e.query), e.query);
    // A scan's hundreds of ports stay out of the query.
    const scan = Array.from(
      { length: EDGE_QUERY_PORTS + 1 },
      (_, i): Edge => ({ source: end('10.0.0.1', null, null), destination: end('10.0.0.2', null, null, i + 1), transport: 'tcp', connections: 1, bytes: 0 }),
    );
    const sg = buildGraph(scan, [], []);
    assert.equal(sg.edges.length, 1);
    assert.equal(sg.edges[0].query, 'source.ip:10.0.0.1 and destination.ip:10.0.0.2 and network.transport:tcp');
    assert.equal(portsLabel(sg.edges[0].ports), '1,2,3,+18');
  });

  it('draws a ClusterIP as its service, and its query selects the service', () => {
    const svc: Edge[] = [
      {
        source: end('10.244.1.10', 'shop', 'frontend'),
        destination: { ...end('10.96.12.34', 'shop', null, 80), service: 'api' },
        transport: 'tcp',
        connections: 2,
        bytes: 2,
      },
      {
        source: end('10.244.1.11', 'shop', 'worker'),
        destination: { ...end('10.96.12.34', 'shop', null, 80), service: 'api' },
        transport: 'tcp',
        connections: 1,
        bytes: 1,
      },
      // An endpoint with a workload stays its workload.
      {
        source: end('10.244.1.11', 'shop', 'worker'),
        destination: { ...end('10.244.2.20', 'shop', 'api', 8080), service: 'api' },
        transport: 'tcp',
        connections: 1,
        bytes: 1,
      },
    ];
    const g = buildGraph(svc, [], []);
    const node = g.nodes.find((n) => n.id === 's:shop/api');
    assert.equal(node?.kind, 'service');
    assert.equal(node?.label, 'api');
    assert.equal(node?.parent, 'ns:shop');
    assert.equal(g.edges.filter((e) => e.target === 's:shop/api').length, 2);
    assert.equal(g.edges.filter((e) => e.target === 'w:shop/api').length, 1);
    const fe = g.edges.find((e) => e.source === 'w:shop/frontend');
    assert.equal(
      fe?.query,
      'eastwatch.source.namespace:shop and eastwatch.source.workload:frontend and eastwatch.destination.namespace:shop and eastwatch.destination.service:api and destination.port:80 and network.transport:tcp',
    );
    for (const e of g.edges) assert.doesNotThrow(() => parseQuery(e.query), e.query);
  });

  it('collapses namespaces into one node each, merging their edges', () => {
    const g = buildGraph(edges, denied, alerts);
    const all = groupGraph(g, () => true);
    assert.deepEqual(all.edges, g.edges);
    assert.deepEqual(
      all.nodes.map((n) => n.id),
      g.nodes.map((n) => n.id),
    );
    const shut = groupGraph(g, (ns) => ns !== 'shop');
    assert.deepEqual(shut.nodes.map((n) => n.id).sort(), ['a:10.96.0.10', 'a:203.0.113.9', 'g:shop', 'ns:kube-system']);
    const grp = shut.nodes.find((n) => n.id === 'g:shop');
    assert.equal(grp?.kind, 'group');
    assert.equal(grp?.members, 2);
    // frontend -> api (two ports, 9 connections) is now inside the group: a loop on it.
    const loop = shut.edges.find((e) => e.source === 'g:shop' && e.target === 'g:shop');
    assert.ok(loop);
    assert.equal(loop.connections, 9);
    assert.equal(loop.members, 1);
    assert.equal(loop.denied, true);
    assert.deepEqual(loop.alerts, ['a-workload']);
    assert.equal(
      loop.query,
      'eastwatch.source.namespace:shop and eastwatch.destination.namespace:shop and destination.port:(8080 or 9090) and network.transport:tcp',
    );
    const inbound = shut.edges.find((e) => e.source === 'a:203.0.113.9');
    assert.equal(inbound?.target, 'g:shop');
    assert.equal(inbound?.query, 'source.ip:203.0.113.9 and eastwatch.destination.namespace:shop and destination.port:8080 and network.transport:tcp');
    assert.deepEqual(inbound?.alerts, ['a-ip']);
    assert.equal(shut.edges.length, 3);
    for (const e of shut.edges) assert.doesNotThrow(() => parseQuery(e.query), e.query);
    // Both collapsed: shop -> kube-system, one edge; different transports merge into one.
    const both = groupGraph(buildGraph([...edges, { ...edges[4], transport: 'tcp' }], [], []), () => false);
    const dns = both.edges.find((e) => e.source === 'g:shop' && e.target === 'g:kube-system');
    assert.equal(dns?.transport, 'tcp,udp');
    assert.equal(dns?.connections, 8);
    assert.equal(dns?.members, 2);
    assert.equal(
      dns?.query,
      'eastwatch.source.namespace:shop and eastwatch.destination.namespace:kube-system and destination.port:53 and network.transport:(tcp or udp)',
    );
    assert.doesNotThrow(() => parseQuery(dns?.query ?? ''));
  });

  it('groups external destinations by registered domain, one collapsible node like a namespace', () => {
    const ext = (ip: string, name: string | undefined, port: number): Edge => ({
      source: end('10.244.1.10', 'shop', 'frontend'),
      destination: { ...end(ip, null, null, port), ...(name ? { name } : {}) },
      transport: 'tcp',
      connections: 1,
      bytes: 10,
    });
    const g = buildGraph(
      [
        ext('93.184.216.34', 'www.example.co.uk', 443),
        ext('93.184.216.35', 'static.cdn.example.co.uk', 443),
        ext('140.82.112.5', 'api.github.com', 443),
        ext('8.8.4.4', undefined, 443),
      ],
      [],
      [],
    );
    const kinds = Object.fromEntries(g.nodes.map((n) => [n.id, [n.kind, n.label, n.parent]]));
    // tldts: the registered domain of a.b.example.co.uk is example.co.uk, not co.uk.
    assert.deepEqual(kinds['dom:example.co.uk'], ['domain', 'example.co.uk', null]);
    assert.deepEqual(kinds['a:93.184.216.34'], ['address', 'www.example.co.uk', 'dom:example.co.uk']);
    assert.deepEqual(kinds['a:93.184.216.35'], ['address', 'static.cdn.example.co.uk', 'dom:example.co.uk']);
    assert.deepEqual(kinds['a:140.82.112.5'], ['address', 'api.github.com', 'dom:github.com']);
    // An address with no name stays a bare address outside any group.
    assert.deepEqual(kinds['a:8.8.4.4'], ['address', '8.8.4.4', null]);

    // Collapsed: example.co.uk is one node for its two addresses, its edges merged into one that
    // searches both addresses; github.com left expanded.
    const shown = groupGraph(g, (k) => k !== 'example.co.uk');
    const grp = shown.nodes.find((n) => n.id === 'g:example.co.uk');
    assert.equal(grp?.kind, 'group');
    assert.equal(grp?.members, 2);
    assert.equal(grp?.namespace, null);
    assert.equal(grp?.domain, 'example.co.uk');
    assert.ok(!shown.nodes.some((n) => n.id === 'dom:example.co.uk' || n.id === 'a:93.184.216.34'));
    assert.ok(shown.nodes.some((n) => n.id === 'dom:github.com'));
    const merged = shown.edges.find((e) => e.target === 'g:example.co.uk');
    assert.equal(merged?.connections, 2);
    assert.equal(merged?.members, 2);
    assert.equal(
      merged?.query,
      'eastwatch.source.namespace:shop and eastwatch.source.workload:frontend and destination.ip:(93.184.216.34 or 93.184.216.35) and destination.port:443 and network.transport:tcp',
    );
    assert.doesNotThrow(() => parseQuery(merged?.query ?? ''));
    assert.equal(shown.edges.length, 3);
  });
});

describe('UI helpers: time and wire', () => {
  it('resolves range bounds as the API reads them', () => {
    const now = Date.UTC(2026, 0, 15, 10, 0, 0);
    assert.equal(resolveTime('now', now), now / 1000);
    assert.equal(resolveTime('now-15m', now), now / 1000 - 900);
    assert.equal(resolveTime('now-2d', now), now / 1000 - 172800);
    assert.equal(resolveTime('1768471200.5'), 1768471200.5);
    assert.equal(resolveTime('2026-01-15T10:00:00Z'), 1768471200);
    assert.equal(resolveTime('yesterday'), null);
    assert.equal(resolveTime(''), null);
    assert.equal(isoOf(1768471200.25), '2026-01-15T10:00:00.250Z');
    assert.equal(niceInterval(3600), 60);
    assert.equal(niceInterval(2), 1);
    assert.equal(niceInterval(86400 * 365), 604800);
  });

  it('spans the data from the first start to one second past the last (to is exclusive)', () => {
    assert.deepEqual(spanRange(1768471270.9, 1768471999.2), { from: '2026-01-15T10:01:10.000Z', to: '2026-01-15T10:13:20.000Z' });
    assert.equal(spanRange(undefined, undefined), null);
  });

  it('says bucket widths as people do, and labels the time axis in ISO UTC', () => {
    assert.equal(fmtInterval(60), '1 min');
    assert.equal(fmtInterval(3600), '1 h');
    assert.equal(fmtInterval(86400), '1 d');
    assert.equal(fmtInterval(300), '5 min');
    assert.equal(fmtInterval(30), '30 s');
    assert.equal(fmtInterval(90), '90 s');
    assert.equal(fmtInterval(7862400), '91 d');
    const t = Date.UTC(2026, 0, 15, 10, 30, 15) / 1000;
    assert.deepEqual(axisTimes([t], 1), ['2026-01-15 10:30:15']);
    assert.deepEqual(axisTimes([t], 300), ['2026-01-15 10:30']);
    assert.deepEqual(axisTimes([Date.UTC(2026, 0, 15) / 1000], 86400), ['2026-01-15']);
  });

  it('draws each bucket from its start to its end, from zero up', () => {
    // 10 px a second, zero at y=100, 1 px a connection.
    const bars = bucketBars(
      [0, 60, 120],
      [5, 0, 3650],
      60,
      (s) => 10 * s,
      (n) => 100 - n,
    );
    assert.deepEqual(bars, [
      { left: 0, width: 600, top: 95, height: 5 },
      { left: 600, width: 600, top: 100, height: 0 },
      { left: 1200, width: 600, top: -3550, height: 3650 },
    ]);
  });

  it('takes the query error position from the message or from a position field', () => {
    const e = errorOf(400, { error: "unknown field 'foo'; did you mean 'pod'? (at position 13)" }, 'x');
    assert.equal(e.position, 13);
    assert.equal(e.status, 400);
    assert.equal(errorOf(400, { error: 'bad', position: 4 }, 'x').position, 4);
    assert.equal(errorOf(400, { error: 'limit may be at most 1000' }, 'x').position, null);
    assert.equal(errorOf(502, null, 'Bad Gateway').message, 'Bad Gateway');
  });

  it('reads server-sent events split anywhere, with comments and CRLF', () => {
    const text =
      ': keep-alive\n\nevent: state\ndata: {"state":"active"}\n\nevent: progress\r\ndata: {"packets":\r\ndata: 5}\r\n\r\nevent: done\ndata: {"state":"completed"}\n\n';
    for (const cut of [1, 7, 20, 33, text.length - 1]) {
      const got: ServerEvent[] = [];
      let rest = parseEvents(text.slice(0, cut), got);
      rest = parseEvents(rest + text.slice(cut), got);
      assert.equal(rest, '');
      assert.deepEqual(
        got,
        [
          { event: 'state', data: { state: 'active' } },
          { event: 'progress', data: { packets: 5 } },
          { event: 'done', data: { state: 'completed' } },
        ],
        `cut at ${cut}`,
      );
    }
  });
});

describe('ui map: block layout of a large map', () => {
  it('places every workload once, each namespace in its own block, busiest first', () => {
    const edges: Edge[] = [];
    for (let i = 0; i < 12; i++)
      for (let j = 0; j < 5; j++)
        edges.push({
          source: { ip: `10.1.${i}.1`, namespace: `a${i % 3}`, workload: `c${i}` },
          destination: { ip: `10.2.${j}.1`, port: 80, namespace: 'b', workload: `s${j}` },
          transport: 'tcp',
          connections: j === 0 ? 100 : 1,
          bytes: 0,
        });
    const g = buildGraph(edges, [], []);
    const pos = blockPositions(g, 10);
    const placed = g.nodes.filter((n) => n.kind !== 'namespace');
    assert.deepEqual(Object.keys(pos).sort(), placed.map((n) => n.id).sort());
    assert.equal(new Set(Object.values(pos).map((p) => `${p.x},${p.y}`)).size, placed.length, 'no two nodes on one spot');
    // Blocks do not overlap: the bounding boxes of two namespaces are apart.
    const box = (ns: string) => {
      const ps = placed.filter((n) => n.namespace === ns).map((n) => pos[n.id]);
      return {
        x0: Math.min(...ps.map((p) => p.x)),
        x1: Math.max(...ps.map((p) => p.x)),
        y0: Math.min(...ps.map((p) => p.y)),
        y1: Math.max(...ps.map((p) => p.y)),
      };
    };
    const names = ['a0', 'a1', 'a2', 'b'];
    for (const a of names)
      for (const b of names) {
        if (a >= b) continue;
        const p = box(a);
        const q = box(b);
        assert.ok(p.x1 < q.x0 || q.x1 < p.x0 || p.y1 < q.y0 || q.y1 < p.y0, `${a} and ${b} overlap`);
      }
    // The busiest workload of a block comes first (its top-left corner).
    const b = box('b');
    const first = placed.find((n) => n.namespace === 'b' && n.label === 's0');
    assert.deepEqual(first && pos[first.id], { x: b.x0, y: b.y0 });
  });
});

describe('ui map: layouts as the layout worker computes them', () => {
  /** Three namespaces of clients calling two namespaces of servers, and a service. */
  const graph = () => {
    const edges: Edge[] = [];
    for (let i = 0; i < 18; i++)
      for (let j = 0; j < 4; j++)
        edges.push({
          source: { ip: `10.1.${i}.1`, namespace: `a${i % 3}`, workload: `c${i}` },
          destination: { ip: `10.2.${j}.1`, port: 80, namespace: `b${j % 2}`, workload: `s${j}` },
          transport: 'tcp',
          connections: i + j + 1,
          bytes: 0,
        });
    edges.push({
      source: { ip: '10.1.0.1', namespace: 'a0', workload: 'c0' },
      destination: { ip: '10.96.0.10', port: 53, namespace: 'kube-system', workload: null, service: 'kube-dns' },
      transport: 'udp',
      connections: 3,
      bytes: 0,
    });
    return buildGraph(edges, [], []);
  };

  it('blocks: the same positions as fitBlocks on the graph itself, through the typed arrays a worker is sent', () => {
    const g = graph();
    const req = layoutRequest(g, 'blocks', 1200, 600);
    assert.equal(req.connections.length, g.edges.length);
    const got = positionsOf(req.ids, computeLayout(req));
    assert.deepEqual(got, fitBlocks(g, 2));
    // Namespaces are placed by their children: no position of their own.
    assert.ok(g.nodes.filter((n) => n.kind === 'namespace').every((n) => !(n.id in got)));
  });

  it("cose: every node placed, the same way every time, whatever the page's Math.random", () => {
    const g = graph();
    const leaves = g.nodes.filter((n) => n.kind !== 'namespace' && n.kind !== 'domain');
    const ids = g.nodes.map((n) => n.id);
    // cose pushes coinciding nodes apart in a random direction: the layout's own seeded one, not the page's.
    const random = Math.random;
    let calls = 0;
    Math.random = () => {
      calls++;
      return 0.5;
    };
    let a: Record<string, { x: number; y: number }>;
    try {
      a = positionsOf(ids, computeLayout(layoutRequest(g, 'cose', 1200, 600)));
    } finally {
      Math.random = random;
    }
    assert.equal(calls, 0);
    assert.equal(Math.random, random);
    const b = positionsOf(ids, computeLayout(layoutRequest(g, 'cose', 1200, 600)));
    assert.deepEqual(a, b);
    assert.deepEqual(Object.keys(a).sort(), leaves.map((n) => n.id).sort());
    assert.ok(Object.values(a).every((p) => Number.isFinite(p.x) && Number.isFinite(p.y)));
    assert.ok(new Set(Object.values(a).map((p) => `${Math.round(p.x)},${Math.round(p.y)}`)).size > leaves.length / 2, 'nodes spread out');
  });
});
