/**
 * The NetworkPolicy evaluator against the cases of the Kubernetes documentation
 * (concepts/services-networking/network-policies), written out as data: each rule kind,
 * ipBlock with except, named ports, endPort, namespace and pod selectors (AND vs OR),
 * implicit policyTypes, default deny / allow-all for both directions, multiple policies,
 * and the documented exceptions (a pod cannot block itself; its own node always reaches it).
 */
import { strict as assert } from 'node:assert';
import type { L4Protocol, PodEntry } from '../../src/k8s/inventory';
import { PolicySet, type PolicyEndpoint } from '../../src/k8s/policy';
import { networkPolicySchema, type NetworkPolicyObject } from '../../src/k8s/schema';
import { selectorMatches } from '../../src/k8s/selector';

const NS_LABELS: Record<string, Record<string, string>> = {
  default: { 'kubernetes.io/metadata.name': 'default' },
  myproject: { 'kubernetes.io/metadata.name': 'myproject', project: 'myproject' },
  other: { 'kubernetes.io/metadata.name': 'other' },
  alice: { 'kubernetes.io/metadata.name': 'alice', user: 'alice' },
};

function pod(namespace: string, name: string, ip: string, labels: Record<string, string>, ports: PodEntry['ports'] = [], node = 'node-a'): PodEntry {
  return { namespace, name, labels, node, hostNetwork: false, workload: name, workloadKind: 'Pod', ports, ips: [ip], from: -Infinity, to: Infinity };
}

const P = {
  db: pod('default', 'db', '10.1.0.10', { role: 'db' }, [{ name: 'redis', port: 6379, protocol: 'TCP' }]),
  frontend: pod('default', 'frontend', '10.1.0.11', { role: 'frontend' }),
  web: pod('default', 'web', '10.1.0.12', { app: 'web' }, [
    { name: 'http', port: 8080, protocol: 'TCP' },
    { name: 'dns', port: 53, protocol: 'UDP' },
  ]),
  plain: pod('default', 'plain', '10.1.0.13', { app: 'plain' }, [{ name: 'metrics', port: 9100, protocol: 'TCP' }]),
  otherFrontend: pod('other', 'frontend', '10.1.1.11', { role: 'frontend' }),
  projectPod: pod('myproject', 'anything', '10.1.2.20', { app: 'x' }),
  aliceClient: pod('alice', 'client', '10.1.3.30', { role: 'client' }),
  aliceServer: pod('alice', 'server', '10.1.3.31', { role: 'server' }),
  aliceOther: pod('alice', 'batch', '10.1.3.32', { role: 'batch' }),
  defaultClient: pod('default', 'client', '10.1.0.30', { role: 'client' }),
  exprA: pod('default', 'expr-a', '10.1.0.40', { tier: 'backend', env: 'prod' }),
  exprB: pod('default', 'expr-b', '10.1.0.41', { tier: 'backend', env: 'dev', canary: 'yes' }),
} satisfies Record<string, PodEntry>;

type End = keyof typeof P | string;

function ep(e: End, nodeName?: string): PolicyEndpoint {
  const p = (P as Record<string, PodEntry>)[e];
  return p ? { ip: p.ips[0], pod: p } : { ip: e, nodeName };
}

function np(namespace: string, name: string, spec: unknown): NetworkPolicyObject {
  return networkPolicySchema.parse({ kind: 'NetworkPolicy', metadata: { name, namespace }, spec });
}

/** The main example of the documentation page. */
const TEST_NETWORK_POLICY = np('default', 'test-network-policy', {
  podSelector: { matchLabels: { role: 'db' } },
  policyTypes: ['Ingress', 'Egress'],
  ingress: [
    {
      from: [
        { ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.1.0/24'] } },
        { namespaceSelector: { matchLabels: { project: 'myproject' } } },
        { podSelector: { matchLabels: { role: 'frontend' } } },
      ],
      ports: [{ protocol: 'TCP', port: 6379 }],
    },
  ],
  egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 5978 }] }],
});

const DEFAULT_DENY_INGRESS = np('default', 'default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
const ALLOW_ALL_INGRESS = np('default', 'allow-all-ingress', { podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] });
const DEFAULT_DENY_EGRESS = np('default', 'default-deny-egress', { podSelector: {}, policyTypes: ['Egress'] });
const ALLOW_ALL_EGRESS = np('default', 'allow-all-egress', { podSelector: {}, egress: [{}], policyTypes: ['Egress'] });
const DEFAULT_DENY_ALL = np('default', 'default-deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
const END_PORT = np('default', 'multi-port-egress', {
  podSelector: { matchLabels: { role: 'db' } },
  policyTypes: ['Egress'],
  egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 32000, endPort: 32768 }] }],
});
/** "Behavior of to and from selectors": one element (AND) ... */
const AND_SELECTORS = np('alice', 'and', {
  podSelector: { matchLabels: { role: 'server' } },
  ingress: [{ from: [{ namespaceSelector: { matchLabels: { user: 'alice' } }, podSelector: { matchLabels: { role: 'client' } } }] }],
});
/** ... versus two elements (OR). */
const OR_SELECTORS = np('alice', 'or', {
  podSelector: { matchLabels: { role: 'server' } },
  ingress: [{ from: [{ namespaceSelector: { matchLabels: { user: 'alice' } } }, { podSelector: { matchLabels: { role: 'client' } } }] }],
});
const NAMED_PORT = np('default', 'named-port', { podSelector: {}, ingress: [{ ports: [{ port: 'http' }, { port: 'dns', protocol: 'UDP' }] }] });
const BY_NAMESPACE_NAME = np('default', 'from-myproject', {
  podSelector: { matchLabels: { app: 'web' } },
  ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'myproject' } } }] }],
});
const WEB_80_FROM_FRONTEND = np('default', 'web-from-frontend', {
  podSelector: { matchLabels: { app: 'web' } },
  ingress: [{ from: [{ podSelector: { matchLabels: { role: 'frontend' } } }], ports: [{ port: 8080 }] }],
});
const WEB_DNS_FROM_DB = np('default', 'web-dns-from-db', {
  podSelector: { matchLabels: { app: 'web' } },
  ingress: [{ from: [{ podSelector: { matchLabels: { role: 'db' } } }], ports: [{ port: 53, protocol: 'UDP' }] }],
});
/** No policyTypes and egress rules: both Ingress and Egress, so ingress is isolated with no rule. */
const IMPLICIT_TYPES = np('default', 'egress-only-rules', {
  podSelector: { matchLabels: { app: 'web' } },
  egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }],
});
const EXPRESSIONS = np('default', 'expressions', {
  podSelector: {
    matchExpressions: [
      { key: 'tier', operator: 'In', values: ['backend'] },
      { key: 'canary', operator: 'DoesNotExist' },
    ],
  },
  policyTypes: ['Ingress'],
  ingress: [
    {
      from: [
        {
          podSelector: {
            matchExpressions: [
              { key: 'role', operator: 'NotIn', values: ['db'] },
              { key: 'role', operator: 'Exists' },
            ],
          },
        },
      ],
    },
  ],
});
const ICMP_RULES = np('default', 'icmp', {
  podSelector: { matchLabels: { app: 'plain' } },
  ingress: [
    { from: [{ podSelector: { matchLabels: { role: 'frontend' } } }] },
    { from: [{ podSelector: { matchLabels: { role: 'db' } } }], ports: [{ port: 9100 }] },
  ],
});

interface Case {
  name: string;
  policies: NetworkPolicyObject[];
  src: End;
  dst: End;
  port: number;
  protocol?: L4Protocol | null;
  /** Node name of an address end (src or dst given as an IP). */
  srcNode?: string;
  dstNode?: string;
  allowed: boolean;
  egress?: string;
  ingress?: string;
  /** Isolating policies of the denying direction(s), or the allowing ones when allowed. */
  by?: string[];
}

const CASES: Case[] = [
  // The documentation's test-network-policy, rule by rule.
  {
    name: 'ipBlock: source inside the cidr',
    policies: [TEST_NETWORK_POLICY],
    src: '172.17.2.5',
    dst: 'db',
    port: 6379,
    allowed: true,
    egress: 'not-applicable',
    ingress: 'allowed',
    by: ['default/test-network-policy'],
  },
  {
    name: 'ipBlock: source in the except block',
    policies: [TEST_NETWORK_POLICY],
    src: '172.17.1.5',
    dst: 'db',
    port: 6379,
    allowed: false,
    ingress: 'denied',
    by: ['default/test-network-policy'],
  },
  { name: 'ipBlock: source outside the cidr', policies: [TEST_NETWORK_POLICY], src: '172.18.0.1', dst: 'db', port: 6379, allowed: false },
  {
    name: 'podSelector: frontend pod in the policy namespace',
    policies: [TEST_NETWORK_POLICY],
    src: 'frontend',
    dst: 'db',
    port: 6379,
    allowed: true,
    egress: 'not-isolated',
    ingress: 'allowed',
  },
  { name: 'podSelector alone does not reach other namespaces', policies: [TEST_NETWORK_POLICY], src: 'otherFrontend', dst: 'db', port: 6379, allowed: false },
  {
    name: 'namespaceSelector: any pod of a project=myproject namespace',
    policies: [TEST_NETWORK_POLICY],
    src: 'projectPod',
    dst: 'db',
    port: 6379,
    allowed: true,
  },
  { name: 'ports: a port not listed', policies: [TEST_NETWORK_POLICY], src: 'frontend', dst: 'db', port: 6380, allowed: false },
  {
    name: 'ports: the right port with the wrong protocol',
    policies: [TEST_NETWORK_POLICY],
    src: 'frontend',
    dst: 'db',
    port: 6379,
    protocol: 'UDP',
    allowed: false,
  },
  {
    name: 'egress: to the ipBlock on 5978',
    policies: [TEST_NETWORK_POLICY],
    src: 'db',
    dst: '10.0.0.5',
    port: 5978,
    allowed: true,
    egress: 'allowed',
    ingress: 'not-applicable',
  },
  {
    name: 'egress: other port',
    policies: [TEST_NETWORK_POLICY],
    src: 'db',
    dst: '10.0.0.5',
    port: 5979,
    allowed: false,
    egress: 'denied',
    by: ['default/test-network-policy'],
  },
  { name: 'egress: outside the ipBlock', policies: [TEST_NETWORK_POLICY], src: 'db', dst: '10.0.1.5', port: 5978, allowed: false },
  {
    name: 'egress and ingress both needed: db -> frontend (db egress denies)',
    policies: [TEST_NETWORK_POLICY],
    src: 'db',
    dst: 'frontend',
    port: 80,
    allowed: false,
    egress: 'denied',
    ingress: 'not-isolated',
  },
  {
    name: 'default allow: pods no policy selects',
    policies: [TEST_NETWORK_POLICY],
    src: 'frontend',
    dst: 'web',
    port: 8080,
    allowed: true,
    egress: 'not-isolated',
    ingress: 'not-isolated',
  },

  // Defaults.
  {
    name: 'default deny ingress',
    policies: [DEFAULT_DENY_INGRESS],
    src: 'frontend',
    dst: 'web',
    port: 8080,
    allowed: false,
    ingress: 'denied',
    by: ['default/default-deny-ingress'],
  },
  {
    name: 'default deny ingress leaves egress alone',
    policies: [DEFAULT_DENY_INGRESS],
    src: 'web',
    dst: '8.8.8.8',
    port: 53,
    protocol: 'UDP',
    allowed: true,
    egress: 'not-isolated',
  },
  {
    name: 'allow all ingress, even beside a default deny (union)',
    policies: [DEFAULT_DENY_INGRESS, ALLOW_ALL_INGRESS],
    src: 'otherFrontend',
    dst: 'web',
    port: 1234,
    allowed: true,
    ingress: 'allowed',
    by: ['default/allow-all-ingress'],
  },
  {
    name: 'default deny egress',
    policies: [DEFAULT_DENY_EGRESS],
    src: 'web',
    dst: '8.8.8.8',
    port: 53,
    protocol: 'UDP',
    allowed: false,
    egress: 'denied',
    by: ['default/default-deny-egress'],
  },
  {
    name: 'default deny egress blocks pod-to-pod in the namespace too',
    policies: [DEFAULT_DENY_EGRESS],
    src: 'frontend',
    dst: 'web',
    port: 8080,
    allowed: false,
    egress: 'denied',
    ingress: 'not-isolated',
  },
  {
    name: 'allow all egress',
    policies: [DEFAULT_DENY_EGRESS, ALLOW_ALL_EGRESS],
    src: 'web',
    dst: '8.8.8.8',
    port: 53,
    protocol: 'UDP',
    allowed: true,
    egress: 'allowed',
  },
  {
    name: 'default deny all: ingress side',
    policies: [DEFAULT_DENY_ALL],
    src: 'projectPod',
    dst: 'web',
    port: 8080,
    allowed: false,
    egress: 'not-isolated',
    ingress: 'denied',
  },
  {
    name: 'default deny all: egress side',
    policies: [DEFAULT_DENY_ALL],
    src: 'web',
    dst: 'projectPod',
    port: 8080,
    allowed: false,
    egress: 'denied',
    ingress: 'not-isolated',
  },
  {
    name: 'default deny all: within the namespace both sides deny',
    policies: [DEFAULT_DENY_ALL],
    src: 'frontend',
    dst: 'web',
    port: 8080,
    allowed: false,
    egress: 'denied',
    ingress: 'denied',
    by: ['default/default-deny-all'],
  },

  // Exceptions.
  { name: 'a pod cannot block itself', policies: [DEFAULT_DENY_ALL], src: 'web', dst: 'web', port: 8080, allowed: true, egress: 'allowed', ingress: 'allowed' },
  {
    name: 'its own node always reaches a pod (kubelet probes)',
    policies: [DEFAULT_DENY_ALL],
    src: '192.168.0.1',
    srcNode: 'node-a',
    dst: 'web',
    port: 8080,
    allowed: true,
    ingress: 'allowed',
  },
  {
    name: 'another node does not',
    policies: [DEFAULT_DENY_ALL],
    src: '192.168.0.2',
    srcNode: 'node-b',
    dst: 'web',
    port: 8080,
    allowed: false,
    ingress: 'denied',
  },
  {
    name: 'a pod always reaches its own node',
    policies: [DEFAULT_DENY_ALL],
    src: 'web',
    dst: '192.168.0.1',
    dstNode: 'node-a',
    port: 10250,
    allowed: true,
    egress: 'allowed',
  },

  // endPort.
  { name: 'endPort: first port of the range', policies: [END_PORT], src: 'db', dst: '10.0.0.7', port: 32000, allowed: true },
  { name: 'endPort: last port of the range', policies: [END_PORT], src: 'db', dst: '10.0.0.7', port: 32768, allowed: true },
  { name: 'endPort: just above', policies: [END_PORT], src: 'db', dst: '10.0.0.7', port: 32769, allowed: false },
  { name: 'endPort: just below', policies: [END_PORT], src: 'db', dst: '10.0.0.7', port: 31999, allowed: false },

  // namespaceSelector and podSelector: one element is AND, two are OR.
  { name: 'AND: client pod in alice', policies: [AND_SELECTORS], src: 'aliceClient', dst: 'aliceServer', port: 80, allowed: true },
  { name: 'AND: client pod in another namespace', policies: [AND_SELECTORS], src: 'defaultClient', dst: 'aliceServer', port: 80, allowed: false },
  { name: 'AND: non-client pod in alice', policies: [AND_SELECTORS], src: 'aliceOther', dst: 'aliceServer', port: 80, allowed: false },
  { name: 'OR: non-client pod in alice', policies: [OR_SELECTORS], src: 'aliceOther', dst: 'aliceServer', port: 80, allowed: true },
  {
    name: 'OR: client pod in another namespace is not the policy namespace',
    policies: [OR_SELECTORS],
    src: 'defaultClient',
    dst: 'aliceServer',
    port: 80,
    allowed: false,
  },
  { name: 'OR: any pod in alice', policies: [OR_SELECTORS], src: 'aliceClient', dst: 'aliceServer', port: 80, allowed: true },
  {
    name: 'namespace by its automatic kubernetes.io/metadata.name label',
    policies: [BY_NAMESPACE_NAME],
    src: 'projectPod',
    dst: 'web',
    port: 8080,
    allowed: true,
  },
  { name: 'namespace by name: other namespaces denied', policies: [BY_NAMESPACE_NAME], src: 'otherFrontend', dst: 'web', port: 8080, allowed: false },

  // Named ports: resolved against the destination pod's container ports.
  { name: 'named port http = 8080 on web', policies: [NAMED_PORT], src: 'frontend', dst: 'web', port: 8080, allowed: true },
  { name: 'named port: another port of web', policies: [NAMED_PORT], src: 'frontend', dst: 'web', port: 8081, allowed: false },
  { name: 'named UDP port dns = 53 on web', policies: [NAMED_PORT], src: 'frontend', dst: 'web', port: 53, protocol: 'UDP', allowed: true },
  { name: 'named UDP port with TCP traffic', policies: [NAMED_PORT], src: 'frontend', dst: 'web', port: 53, protocol: 'TCP', allowed: false },
  { name: 'named port the destination pod does not have', policies: [NAMED_PORT], src: 'frontend', dst: 'plain', port: 8080, allowed: false },

  // Several policies selecting the same pod: the union of their rules.
  {
    name: 'union: first policy allows frontend on 8080',
    policies: [WEB_80_FROM_FRONTEND, WEB_DNS_FROM_DB],
    src: 'frontend',
    dst: 'web',
    port: 8080,
    allowed: true,
    by: ['default/web-from-frontend'],
  },
  {
    name: 'union: second policy allows db on 53/udp',
    policies: [WEB_80_FROM_FRONTEND, WEB_DNS_FROM_DB],
    src: 'db',
    dst: 'web',
    port: 53,
    protocol: 'UDP',
    allowed: true,
    by: ['default/web-dns-from-db'],
  },
  {
    name: 'union: neither allows frontend on 53/udp',
    policies: [WEB_80_FROM_FRONTEND, WEB_DNS_FROM_DB],
    src: 'frontend',
    dst: 'web',
    port: 53,
    protocol: 'UDP',
    allowed: false,
    by: ['default/web-dns-from-db', 'default/web-from-frontend'],
  },

  // Implicit policyTypes.
  {
    name: 'no policyTypes + egress rules: egress allowed by the rule',
    policies: [IMPLICIT_TYPES],
    src: 'web',
    dst: '8.8.8.8',
    port: 443,
    allowed: true,
    egress: 'allowed',
  },
  {
    name: 'no policyTypes + egress rules: ingress isolated too',
    policies: [IMPLICIT_TYPES],
    src: 'frontend',
    dst: 'web',
    port: 8080,
    allowed: false,
    ingress: 'denied',
    by: ['default/egress-only-rules'],
  },

  // matchExpressions.
  { name: 'expressions: selected pod, peer role not db', policies: [EXPRESSIONS], src: 'frontend', dst: 'exprA', port: 80, allowed: true },
  { name: 'expressions: selected pod, peer role db', policies: [EXPRESSIONS], src: 'db', dst: 'exprA', port: 80, allowed: false },
  { name: 'expressions: peer without a role label (Exists fails)', policies: [EXPRESSIONS], src: 'web', dst: 'exprA', port: 80, allowed: false },
  {
    name: 'expressions: canary pod not selected (DoesNotExist)',
    policies: [EXPRESSIONS],
    src: 'db',
    dst: 'exprB',
    port: 80,
    allowed: true,
    ingress: 'not-isolated',
  },

  // Protocols policies cannot name.
  { name: 'ICMP: a rule without ports allows it', policies: [ICMP_RULES], src: 'frontend', dst: 'plain', port: 0, protocol: null, allowed: true },
  { name: 'ICMP: a rule with ports does not', policies: [ICMP_RULES], src: 'db', dst: 'plain', port: 0, protocol: null, allowed: false },
  { name: 'ICMP rule set: db on the listed port', policies: [ICMP_RULES], src: 'db', dst: 'plain', port: 9100, allowed: true },
];

describe('k8s: NetworkPolicy evaluation (Kubernetes documentation cases)', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const set = new PolicySet(c.policies);
      const res = set.evaluate(
        { src: ep(c.src, c.srcNode), dst: ep(c.dst, c.dstNode), port: c.port, protocol: c.protocol === undefined ? 'TCP' : c.protocol },
        (ns) => NS_LABELS[ns],
      );
      assert.equal(res.allowed, c.allowed, `allowed (egress ${res.egress.outcome}, ingress ${res.ingress.outcome})`);
      if (c.egress) assert.equal(res.egress.outcome, c.egress);
      if (c.ingress) assert.equal(res.ingress.outcome, c.ingress);
      if (c.by) {
        const by = c.allowed
          ? [...res.egress.allowedBy, ...res.ingress.allowedBy]
          : [...(res.egress.outcome === 'denied' ? res.egress.isolating : []), ...(res.ingress.outcome === 'denied' ? res.ingress.isolating : [])];
        assert.deepEqual([...new Set(by)].sort(), c.by);
      }
    });
  }

  it('label selectors: empty selects all; NotIn is satisfied by a missing key', () => {
    assert.equal(selectorMatches({}, {}), true);
    assert.equal(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }] }, {}), true);
    assert.equal(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'In', values: ['x'] }] }, {}), false);
    assert.equal(selectorMatches({ matchLabels: { a: 'x' }, matchExpressions: [{ key: 'b', operator: 'Exists' }] }, { a: 'x', b: '' }), true);
  });

  it('IPv6 ipBlocks with except', () => {
    const pol = np('default', 'v6', {
      podSelector: {},
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ ipBlock: { cidr: 'fd00::/8', except: ['fd00:1::/32'] } }] }],
    });
    const set = new PolicySet([pol]);
    const q = (ip: string) => set.evaluate({ src: { ip }, dst: ep('web'), port: 80, protocol: 'TCP' }, (ns) => NS_LABELS[ns]).allowed;
    assert.equal(q('fd00:2::1'), true);
    assert.equal(q('fd00:1::1'), false);
    assert.equal(q('fe80::1'), false);
  });

  it('validation rejects what the API server rejects, naming the field', () => {
    const bad = [
      [{ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }, 'ipBlock cannot be combined'],
      [{ podSelector: {}, egress: [{ ports: [{ port: 'http', endPort: 90 }] }] }, 'endPort needs a numeric port'],
      [{ podSelector: {}, egress: [{ ports: [{ port: 100, endPort: 90 }] }] }, 'endPort must be >= port'],
      [{ podSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }, 'must be non-empty for In'],
      [{ podSelector: {}, policyTypes: ['Sideways'] }, 'policyTypes'],
    ] as const;
    for (const [spec, msg] of bad) {
      const r = networkPolicySchema.safeParse({ kind: 'NetworkPolicy', metadata: { name: 'x', namespace: 'd' }, spec });
      assert.equal(r.success, false);
      const text = r.success ? '' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      assert.ok(text.includes(msg), text);
    }
    assert.throws(
      () => new PolicySet([np('d', 'bad-cidr', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }] })]),
      /d\/bad-cidr: ingress\[0\]\.peers\[0\]: ipBlock: invalid CIDR prefix/,
    );
  });
});
