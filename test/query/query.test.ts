import * as assert from 'node:assert/strict';
import {
  parseQuery,
  QueryError,
  toElasticsearch,
  toSql,
  parseCidr,
  ipKey,
  formatKey,
  instantFromSeconds,
  formatInstant,
  instantSeconds,
  suggestField,
} from '../../src/query';
import { appSpec } from '../../src/store/app-records';

const NOW = new Date('2026-01-15T12:00:00Z');
const es = (q: string): unknown => toElasticsearch(parseQuery(q, { now: NOW }));
const sql = (q: string): { sql: string; params: unknown[] } => toSql(parseQuery(q, { now: NOW }));

function fails(q: string, position: number, re: RegExp): void {
  assert.throws(
    () => parseQuery(q, { now: NOW }),
    (e: unknown) => {
      assert.ok(e instanceof QueryError, `not a QueryError: ${String(e)}`);
      assert.equal(e.position, position, `position for ${JSON.stringify(q)}: ${e.message}`);
      assert.match(e.message, re);
      return true;
    },
  );
}

describe('query language: parse and compile', () => {
  it('empty query matches everything', () => {
    assert.deepEqual(es(''), { match_all: {} });
    assert.deepEqual(sql('   '), { sql: '1', params: [] });
  });

  it('field: value on keyword, long, boolean, with ECS names and aliases', () => {
    assert.deepEqual(es('network.transport: tcp'), { term: { 'network.transport': 'tcp' } });
    assert.deepEqual(es('proto:udp'), { term: { 'network.transport': 'udp' } });
    assert.deepEqual(es('dport: 5432'), { term: { 'destination.port': 5432 } });
    assert.deepEqual(es('zeek.connection.local_orig: TRUE'), { term: { 'zeek.connection.local_orig': true } });
    assert.deepEqual(sql('state: SF'), { sql: 'state = ?', params: ['SF'] });
    assert.deepEqual(sql('sport = 80'), { sql: 'src_port = ?', params: [80] });
    assert.deepEqual(sql('uid == CAbc1'), { sql: 'uid = ?', params: ['CAbc1'] });
    assert.deepEqual(sql('local_resp: false'), { sql: 'local_resp = ?', params: [0] });
  });

  it('ip values: v4, v6, CIDR v4 and v6 (host bits cleared)', () => {
    assert.deepEqual(es('src: 10.244.1.10'), { term: { 'source.ip': '10.244.1.10' } });
    assert.deepEqual(es('dst: fd00::1'), { term: { 'destination.ip': 'fd00::1' } });
    assert.deepEqual(es('source.ip: 10.244.7.9/16'), { term: { 'source.ip': '10.244.0.0/16' } });
    assert.deepEqual(es('dst:fd00:10:244::/48'), { term: { 'destination.ip': 'fd00:10:244::/48' } });
    const c = sql('src: 10.244.0.0/16');
    assert.equal(c.sql, 'src_key BETWEEN ? AND ?');
    assert.equal((c.params[0] as Buffer).toString('hex'), '00000000000000000000ffff0af40000');
    assert.equal((c.params[1] as Buffer).toString('hex'), '00000000000000000000ffff0af4ffff');
    const r = sql('ip: 10.0.0.1');
    assert.equal(r.sql, '(src_key = ? OR dst_key = ?)');
    assert.equal(r.params.length, 2);
    assert.deepEqual(es('ip: 10.0.0.1'), { term: { 'related.ip': '10.0.0.1' } });
  });

  it('value groups: field: (a or b), and, not inside', () => {
    assert.deepEqual(es('dport: (5432 or 6379)'), {
      bool: { should: [{ term: { 'destination.port': 5432 } }, { term: { 'destination.port': 6379 } }], minimum_should_match: 1 },
    });
    assert.deepEqual(sql('history: (S* and not *R*)'), { sql: '(history GLOB ? AND NOT IFNULL(history GLOB ?, 0))', params: ['S*', '*R*'] });
  });

  it('and / or / not with precedence and parentheses, && || ! !=', () => {
    const q = 'src: 10.244.0.0/16 and dport: (5432 or 6379) and not ns: kube-system';
    const d = es(q) as { bool: { filter: unknown[] } };
    assert.equal(d.bool.filter.length, 3);
    assert.deepEqual(d.bool.filter[2], {
      bool: {
        must_not: [
          {
            bool: {
              should: [{ term: { 'eastwatch.source.namespace': 'kube-system' } }, { term: { 'eastwatch.destination.namespace': 'kube-system' } }],
              minimum_should_match: 1,
            },
          },
        ],
      },
    });
    // and binds tighter than or
    assert.deepEqual(sql('proto: tcp or proto: udp and dport: 53'), { sql: '(transport = ? OR (transport = ? AND dst_port = ?))', params: ['tcp', 'udp', 53] });
    assert.deepEqual(sql('(proto: tcp or proto: udp) and dport: 53'), {
      sql: '((transport = ? OR transport = ?) AND dst_port = ?)',
      params: ['tcp', 'udp', 53],
    });
    assert.deepEqual(sql('proto: tcp && !state: SF || dport != 53'), {
      sql: '((transport = ? AND NOT IFNULL(state = ?, 0)) OR NOT IFNULL(dst_port = ?, 0))',
      params: ['tcp', 'SF', 53],
    });
    assert.deepEqual(sql('NOT state:SF AND Proto:tcp'.replace('Proto', 'proto')), {
      sql: '(NOT IFNULL(state = ?, 0) AND transport = ?)',
      params: ['SF', 'tcp'],
    });
  });

  it('comparisons on numbers and times (absolute and relative)', () => {
    assert.deepEqual(es('network.bytes > 1000000'), { range: { 'network.bytes': { gt: 1000000 } } });
    assert.deepEqual(es('bytes>=5'), { range: { 'network.bytes': { gte: 5 } } });
    assert.deepEqual(sql('event.duration < 1000'), { sql: 'duration_ns < ?', params: [1000] });
    assert.deepEqual(es('@timestamp >= 2026-01-15T10:00:00.123456789Z'), { range: { '@timestamp': { gte: '2026-01-15T10:00:00.123456789Z' } } });
    assert.deepEqual(es('@timestamp < 2026-01-15'), { range: { '@timestamp': { lt: '2026-01-15T00:00:00.000000000Z' } } });
    assert.deepEqual(es('@timestamp >= now-1h'), { range: { '@timestamp': { gte: '2026-01-15T11:00:00.000000000Z' } } });
    assert.deepEqual(es('event.end <= 2026-01-15T12:00:00+02:00'), { range: { 'event.end': { lte: '2026-01-15T10:00:00.000000000Z' } } });
    assert.deepEqual(sql('@timestamp >= 2026-01-15T10:00:00Z'), { sql: 'ts >= ?', params: [Date.UTC(2026, 0, 15, 10) / 1000] });
  });

  it('wildcards on keyword fields, escapes, quoted strings are literal', () => {
    assert.deepEqual(es('history: Sh*'), { wildcard: { 'zeek.connection.history': { value: 'Sh*' } } });
    assert.deepEqual(es('pod: api-?-x*'), {
      bool: {
        should: [{ wildcard: { 'eastwatch.source.pod': { value: 'api-?-x*' } } }, { wildcard: { 'eastwatch.destination.pod': { value: 'api-?-x*' } } }],
        minimum_should_match: 1,
      },
    });
    assert.deepEqual(es('service: "a*b"'), { term: { 'network.protocol': 'a*b' } });
    assert.deepEqual(es('history: a\\*b*'), { wildcard: { 'zeek.connection.history': { value: 'a\\*b*' } } });
    assert.deepEqual(sql('history: a\\*[b*'), { sql: 'history GLOB ?', params: ['a[*][[]b*'] });
    assert.deepEqual(sql('service: dn*'), { sql: 'EXISTS (SELECT 1 FROM json_each(service) WHERE value GLOB ?)', params: ['dn*'] });
    assert.deepEqual(sql("ns: 'kube system'"), { sql: '(src_namespace = ? OR dst_namespace = ?)', params: ['kube system', 'kube system'] });
    assert.deepEqual(es('service: "and"'), { term: { 'network.protocol': 'and' } });
  });

  it('field: * is exists', () => {
    assert.deepEqual(es('network.vlan.id: *'), { exists: { field: 'network.vlan.id' } });
    assert.deepEqual(sql('vlan: *'), { sql: '(vlan IS NOT NULL)', params: [] });
    assert.deepEqual(sql('service: *'), { sql: 'json_array_length(service) > 0', params: [] });
    assert.deepEqual(sql('not workload:*'), {
      sql: 'NOT IFNULL((src_workload IS NOT NULL) OR (dst_workload IS NOT NULL), 0)'.replace(
        '(src_workload IS NOT NULL) OR (dst_workload IS NOT NULL)',
        '((src_workload IS NOT NULL) OR (dst_workload IS NOT NULL))',
      ),
      params: [],
    });
  });

  it('never puts a value into SQL text', () => {
    const evil = `state: "x' OR 1=1 --" or history: "a\\"; DROP TABLE conn; --"`;
    const c = sql(evil);
    assert.equal(c.sql, '(state = ? OR history = ?)');
    assert.deepEqual(c.params, ["x' OR 1=1 --", 'a"; DROP TABLE conn; --']);
  });

  describe('errors carry the position', () => {
    it('unknown field with a suggestion', () => {
      fails('destination.prot: 80', 0, /unknown field 'destination\.prot'; did you mean 'destination\.port'\?/);
      fails('proto: tcp and dprt: 80', 15, /unknown field 'dprt'; did you mean 'dport'\?/);
      fails('zzzzzzzz: 1', 0, /^unknown field 'zzzzzzzz' \(at position 0\)$/);
      assert.equal(suggestField('transport'), 'network.transport');
    });
    it('syntax', () => {
      fails('proto: tcp udp', 11, /expected 'and' or 'or' before 'udp'/);
      fails('(proto: tcp', 11, /missing '\)' for the '\(' at position 0/);
      fails('proto: tcp)', 10, /unexpected '\)'/);
      fails('proto:', 6, /expected a value for 'network.transport', got end of query/);
      fails('proto', 5, /expected ':' or a comparison/);
      fails('and proto: tcp', 0, /expected a field name, got 'and'/);
      fails('proto: tcp and', 14, /expected a field name, got end of query/);
      fails('state: "SF', 7, /unterminated string/);
      fails('()', 1, /empty parentheses/);
      fails('dport: ()', 8, /empty value list/);
      fails('state: and', 7, /operator 'and' \(quote it/);
      fails(': x', 0, /expected a field name, got ':'/);
      fails('dport: (80 or 443', 17, /missing '\)' for the '\(' at position 7/);
      fails('bytes >', 7, /expected a value after the comparison/);
      fails('history: abc\\', 12, /backslash/);
    });
    it('types', () => {
      fails('src: 10.0.0.300', 5, /'10\.0\.0\.300' is not an IP address/);
      fails('src: 10.0.0.0/33', 5, /not a CIDR/);
      fails('src: 10.0.*', 5, /wildcards are not supported on the ip field/);
      fails('dport: http', 7, /whole number/);
      fails('dport: 8*', 7, /wildcards are not supported on the number field/);
      fails('bytes > 1.5', 8, /whole number/);
      fails('local_orig: yes', 12, /true or false/);
      fails('state > SF', 8, /comparisons apply to numbers and times; 'zeek\.connection\.state' is a keyword/);
      fails('src > 10.0.0.1', 6, /is an ip field/);
      fails('@timestamp: 2026-01-15', 12, /is a time: compare it/);
      fails('@timestamp > yesterday', 13, /not a time/);
      fails('@timestamp > 2026-02-30', 13, /not a time/);
      fails('dport: 99999999999999999999', 7, /out of range/);
    });
    it('pointer() shows a caret under the fault', () => {
      try {
        parseQuery('proto: tcp and dprt: 80');
        assert.fail('no error');
      } catch (e) {
        assert.ok(e instanceof QueryError);
        assert.equal(e.pointer().split('\n')[1], `${' '.repeat(15)}^ ${e.message}`);
      }
    });
  });
});

describe('query language: addresses and instants', () => {
  it('ip keys order v4 inside v6 and format back', () => {
    assert.equal(ipKey('10.0.0.1')?.toString('hex'), '00000000000000000000ffff0a000001');
    assert.equal(ipKey('::ffff:10.0.0.1')?.toString('hex'), '00000000000000000000ffff0a000001');
    assert.equal(ipKey('nope'), null);
    const c = parseCidr('fd00::1234/8');
    assert.equal(c?.normalized, 'fd00::/8');
    assert.equal(c?.high.toString('hex'), 'fdffffffffffffffffffffffffffffff');
    assert.equal(parseCidr('0.0.0.0/0')?.low.toString('hex'), '00000000000000000000ffff00000000');
    assert.equal(formatKey(ipKey('2001:db8::1') as Buffer, false), '2001:db8::1');
    assert.equal(parseCidr('10.0.0.1'), null);
    assert.equal(parseCidr('10.0.0.1/8/9'), null);
  });
  it('instants round-trip epoch seconds to nanosecond RFC 3339', () => {
    for (const s of [1768471200.100409, 1768471200, 1768471200.1234567, 1278601235.123, 0.5]) {
      const i = instantFromSeconds(s);
      assert.equal(instantSeconds(i), s);
    }
    assert.equal(formatInstant(instantFromSeconds(1768471200.100409)), '2026-01-15T10:00:00.100409000Z');
  });
});

describe('query language: a field registry per record type', () => {
  const dns = appSpec('dns').registry;
  const http = appSpec('http').registry;

  it('parses with the registry given: its ECS names, aliases and either-aliases', () => {
    const q = parseQuery('dns.question.name: *.svc.cluster.local and qtype: AAAA and ip: 10.244.1.10', { fields: dns });
    assert.equal(q.kind, 'and');
    const es = toElasticsearch(q);
    assert.deepEqual(es, {
      bool: {
        filter: [
          { wildcard: { 'dns.question.name': { value: '*.svc.cluster.local' } } },
          { term: { 'dns.question.type': 'AAAA' } },
          { bool: { should: [{ term: { 'source.ip': '10.244.1.10' } }, { term: { 'destination.ip': '10.244.1.10' } }], minimum_should_match: 1 } },
        ],
      },
    });
    const sql = toSql(q);
    assert.equal(sql.sql, '(dns_question_name GLOB ? AND dns_question_type = ? AND (src_key = ? OR dst_key = ?))');
    assert.equal(sql.params[0], '*.svc.cluster.local');
    assert.deepEqual(toSql(parseQuery('status >= 500 and uid: Cabc', { fields: http })), {
      sql: '(http_response_status_code >= ? AND uid = ?)',
      params: [500, 'Cabc'],
    });
  });

  it('a field of another record type is unknown, with a suggestion from the right registry', () => {
    assert.throws(
      () => parseQuery('zeek.connection.state: SF', { fields: dns }),
      (e: unknown) => e instanceof QueryError && /unknown field 'zeek\.connection\.state'/.test(e.message),
    );
    assert.throws(
      () => parseQuery('url.domian: x', { fields: http }),
      (e: unknown) => e instanceof QueryError && /did you mean 'url\.domain'/.test(e.message) && e.position === 0,
    );
    // The connection registry stays the default.
    assert.throws(() => parseQuery('dns.question.name: x'), QueryError);
  });

  it('list fields match any element (dns.answers.data)', () => {
    const sql = toSql(parseQuery('answer: 10.96.0.1', { fields: dns }));
    assert.equal(sql.sql, 'EXISTS (SELECT 1 FROM json_each(dns_answers_data) WHERE value = ?)');
  });
});
