/**
 * Validation of what users hand us: `kubectl get pods,services,endpointslices,nodes -A -o json`
 * (a v1 List), NetworkPolicy objects (a List, a single object, or inside the same List), and the
 * owner objects that help name workloads. Only the fields we use are checked; the rest is ignored,
 * so newer API versions with more fields still load. Errors name the item index and the field.
 */
import { z } from 'zod';

const time = z.string().refine((s) => !Number.isNaN(Date.parse(s)), { message: 'not an RFC 3339 time' });
const labels = z.record(z.string()).nullish();
const port = z.number().int().min(1).max(65535);
const protocol = z.enum(['TCP', 'UDP', 'SCTP']);

const ownerRef = z.object({ kind: z.string(), name: z.string(), controller: z.boolean().nullish() });

const meta = z.object({
  name: z.string().min(1),
  namespace: z.string().nullish(),
  uid: z.string().nullish(),
  labels,
  creationTimestamp: time.nullish(),
  deletionTimestamp: time.nullish(),
  ownerReferences: z.array(ownerRef).nullish(),
});
const namespacedMeta = meta.extend({ namespace: z.string().min(1) });

export const podSchema = z.object({
  kind: z.literal('Pod'),
  metadata: namespacedMeta,
  spec: z
    .object({
      nodeName: z.string().nullish(),
      hostNetwork: z.boolean().nullish(),
      containers: z
        .array(
          z.object({
            name: z.string(),
            ports: z.array(z.object({ name: z.string().nullish(), containerPort: port, protocol: protocol.nullish() })).nullish(),
          }),
        )
        .nullish(),
    })
    .nullish(),
  status: z
    .object({
      phase: z.string().nullish(),
      podIP: z.string().nullish(),
      podIPs: z.array(z.object({ ip: z.string() })).nullish(),
      containerStatuses: z.array(z.object({ state: z.object({ terminated: z.object({ finishedAt: time.nullish() }).nullish() }).nullish() })).nullish(),
    })
    .nullish(),
});

export const serviceSchema = z.object({
  kind: z.literal('Service'),
  metadata: namespacedMeta,
  spec: z
    .object({
      type: z.string().nullish(),
      clusterIP: z.string().nullish(),
      clusterIPs: z.array(z.string()).nullish(),
      ports: z.array(z.object({ name: z.string().nullish(), port, protocol: protocol.nullish(), targetPort: z.union([port, z.string()]).nullish() })).nullish(),
    })
    .nullish(),
});

export const endpointSliceSchema = z.object({
  kind: z.literal('EndpointSlice'),
  metadata: namespacedMeta,
  addressType: z.string().nullish(),
  endpoints: z
    .array(
      z.object({
        addresses: z.array(z.string()),
        targetRef: z.object({ kind: z.string().nullish(), name: z.string(), namespace: z.string().nullish() }).nullish(),
        nodeName: z.string().nullish(),
      }),
    )
    .nullish(),
  ports: z.array(z.object({ name: z.string().nullish(), port: port.nullish(), protocol: protocol.nullish() })).nullish(),
});

export const nodeSchema = z.object({
  kind: z.literal('Node'),
  metadata: meta,
  status: z.object({ addresses: z.array(z.object({ type: z.string(), address: z.string() })).nullish() }).nullish(),
});

export const namespaceSchema = z.object({ kind: z.literal('Namespace'), metadata: meta });

/** Controllers we only need for their names and owners (ReplicaSet -> Deployment, Job -> CronJob). */
export const OWNER_KINDS = ['ReplicaSet', 'Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'ReplicationController'] as const;
export const ownerObjectSchema = z.object({ kind: z.enum(OWNER_KINDS), metadata: namespacedMeta });

const selectorRequirement = z
  .object({
    key: z.string(),
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
    values: z.array(z.string()).nullish(),
  })
  .superRefine((r, ctx) => {
    const n = r.values?.length ?? 0;
    if ((r.operator === 'In' || r.operator === 'NotIn') && n === 0)
      ctx.addIssue({ code: 'custom', path: ['values'], message: `must be non-empty for ${r.operator}` });
    if ((r.operator === 'Exists' || r.operator === 'DoesNotExist') && n > 0)
      ctx.addIssue({ code: 'custom', path: ['values'], message: `must be empty for ${r.operator}` });
  });

export const labelSelectorSchema = z.object({
  matchLabels: z.record(z.string()).nullish(),
  matchExpressions: z.array(selectorRequirement).nullish(),
});

const peerSchema = z
  .object({
    podSelector: labelSelectorSchema.nullish(),
    namespaceSelector: labelSelectorSchema.nullish(),
    ipBlock: z.object({ cidr: z.string(), except: z.array(z.string()).nullish() }).nullish(),
  })
  .superRefine((p, ctx) => {
    if (p.ipBlock && (p.podSelector || p.namespaceSelector))
      ctx.addIssue({ code: 'custom', message: 'ipBlock cannot be combined with podSelector or namespaceSelector' });
    if (!p.ipBlock && !p.podSelector && !p.namespaceSelector)
      ctx.addIssue({ code: 'custom', message: 'a peer needs podSelector, namespaceSelector or ipBlock' });
  });

const policyPortSchema = z
  .object({ protocol: protocol.nullish(), port: z.union([port, z.string().min(1)]).nullish(), endPort: port.nullish() })
  .superRefine((p, ctx) => {
    if (p.endPort != null) {
      if (typeof p.port !== 'number') ctx.addIssue({ code: 'custom', path: ['endPort'], message: 'endPort needs a numeric port' });
      else if (p.endPort < p.port) ctx.addIssue({ code: 'custom', path: ['endPort'], message: 'endPort must be >= port' });
    }
  });

export const networkPolicySchema = z.object({
  kind: z.literal('NetworkPolicy'),
  metadata: namespacedMeta,
  spec: z.object({
    podSelector: labelSelectorSchema,
    policyTypes: z.array(z.enum(['Ingress', 'Egress'])).nullish(),
    ingress: z.array(z.object({ from: z.array(peerSchema).nullish(), ports: z.array(policyPortSchema).nullish() })).nullish(),
    egress: z.array(z.object({ to: z.array(peerSchema).nullish(), ports: z.array(policyPortSchema).nullish() })).nullish(),
  }),
});

export type PodObject = z.infer<typeof podSchema>;
export type ServiceObject = z.infer<typeof serviceSchema>;
export type EndpointSliceObject = z.infer<typeof endpointSliceSchema>;
export type NodeObject = z.infer<typeof nodeSchema>;
export type NamespaceObject = z.infer<typeof namespaceSchema>;
export type OwnerObject = z.infer<typeof ownerObjectSchema>;
export type LabelSelector = z.infer<typeof labelSelectorSchema>;
export type NetworkPolicyObject = z.infer<typeof networkPolicySchema>;
export type NetworkPolicyPeer = z.infer<typeof peerSchema>;
export type NetworkPolicyPort = z.infer<typeof policyPortSchema>;

export type K8sObject = PodObject | ServiceObject | EndpointSliceObject | NodeObject | NamespaceObject | OwnerObject | NetworkPolicyObject;

export interface ParsedObjects {
  objects: K8sObject[];
  /** Items of kinds we do not use (ConfigMaps, Events, ...), counted by kind. */
  ignored: Record<string, number>;
}

export class InventoryError extends Error {
  constructor(
    message: string,
    /** Index in the List's items (-1 for a single object or the document itself). */
    readonly itemIndex: number,
    /** Dotted path of the offending field inside the item. */
    readonly field: string,
  ) {
    super(message);
    this.name = 'InventoryError';
  }
}

const SCHEMAS: Record<string, z.ZodTypeAny> = {
  Pod: podSchema,
  Service: serviceSchema,
  EndpointSlice: endpointSliceSchema,
  Node: nodeSchema,
  Namespace: namespaceSchema,
  NetworkPolicy: networkPolicySchema,
  ...Object.fromEntries(OWNER_KINDS.map((k) => [k, ownerObjectSchema])),
};

function fieldPath(p: ReadonlyArray<string | number>): string {
  let s = '';
  for (const x of p) s += typeof x === 'number' ? `[${x}]` : s ? `.${x}` : x;
  return s || '(item)';
}

function describe(item: unknown): string {
  if (typeof item !== 'object' || item === null) return '';
  const o = item as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  const name = typeof o.metadata?.name === 'string' ? o.metadata.name : '?';
  const ns = typeof o.metadata?.namespace === 'string' ? `${o.metadata.namespace}/` : '';
  return ` (${typeof o.kind === 'string' ? o.kind : '?'} ${ns}${name})`;
}

/**
 * Validates a parsed JSON/YAML document: a v1 List (`kind: List` or any `*List`), a single object,
 * or an array of either (several YAML documents). Throws InventoryError at the first bad item.
 * `source` prefixes messages (usually the file name).
 */
export function parseObjects(doc: unknown, source = 'inventory'): ParsedObjects {
  const out: ParsedObjects = { objects: [], ignored: {} };
  const one = (item: unknown, index: number, where: string): void => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw new InventoryError(`${source}: ${where}: expected a Kubernetes object`, index, '(item)');
    }
    const kind = (item as { kind?: unknown }).kind;
    if (typeof kind !== 'string') throw new InventoryError(`${source}: ${where}${describe(item)}: kind: expected a string`, index, 'kind');
    if (kind === 'List' || kind.endsWith('List')) {
      const items = (item as { items?: unknown }).items;
      if (!Array.isArray(items)) throw new InventoryError(`${source}: ${where}: items: expected an array`, index, 'items');
      for (const [i, x] of items.entries()) one(x, i, `items[${i}]`);
      return;
    }
    const schema = SCHEMAS[kind];
    if (!schema) {
      out.ignored[kind] = (out.ignored[kind] ?? 0) + 1;
      return;
    }
    const r = schema.safeParse(item);
    if (!r.success) {
      const issue = r.error.issues[0];
      const field = fieldPath(issue.path);
      throw new InventoryError(`${source}: ${where}${describe(item)}: ${field}: ${issue.message}`, index, field);
    }
    out.objects.push(r.data as K8sObject);
  };
  if (Array.isArray(doc)) for (const [i, d] of doc.entries()) one(d, i, `document ${i}`);
  else one(doc, -1, 'document');
  return out;
}
