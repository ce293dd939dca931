/** Kubernetes inventory uploads, the policy what-if and the policy advisor over stored traffic. */
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { parseK8sText } from '../../../k8s/load';
import { PolicySet } from '../../../k8s/policy';
import { K8sResolver } from '../../../k8s/resolver';
import { parseObjects, type NetworkPolicyObject } from '../../../k8s/schema';
import { PolicySuggester, suggestionYaml } from '../../../k8s/suggest';
import type { Alert } from '../../../../detectors/contract/alert';
import { WhatIf, applyProposal } from '../../../k8s/whatif';
import { ResolverCache } from '../../inventory';
import type { ServiceContext } from '../../context';
import { ApiError, defineRoute, type RouteKit } from '../route';
import { ClusterName, TimeRange } from '../schemas';
import { clusterQuery } from '../../../k8s/cluster';
import { snapshotRange } from '../../../k8s/reresolve';
import type { JobInfo, ResolutionJobData, ResolutionProgress, ResolutionResult } from '../../queue';
import type { InventoryResolution } from '../wire';

/** The records of one cluster for what-if and suggest: another cluster's would be named after this one's pods. */
export { clusterQuery } from '../../../k8s/cluster';

function resolutionView(j: JobInfo<ResolutionJobData, ResolutionProgress, ResolutionResult>): InventoryResolution {
  return {
    id: j.id,
    cluster: j.data.cluster,
    state: j.state,
    from: j.data.from,
    to: j.data.to,
    progress: j.progress,
    result: j.result,
    failedReason: j.failedReason,
    createdAt: new Date(j.createdAt).toISOString(),
    finishedAt: j.finishedAt === null ? null : new Date(j.finishedAt).toISOString(),
  };
}

async function readText(body: Readable, max: number, what: string): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const b = c as Buffer;
    n += b.length;
    if (n > max) {
      body.resume();
      throw new ApiError(413, `${what} is larger than the ${max}-byte limit`);
    }
    parts.push(b);
  }
  return Buffer.concat(parts).toString('utf8');
}

export function k8sRoutes(kit: RouteKit, ctx: ServiceContext): void {
  const resolvers = new ResolverCache(ctx.inventory, ctx.cfg.localNets);
  /** The cluster's resolver; a policy question without an inventory to name the ends is a 409. */
  const resolverOf = async (cluster: string) => {
    const base = await resolvers.current(cluster);
    if (!base) throw new ApiError(409, `no inventory of cluster ${cluster} has been uploaded: POST /api/v1/inventory?cluster=${cluster} first`);
    return base;
  };

  defineRoute(kit, {
    method: 'post',
    path: '/inventory',
    operationId: 'uploadInventory',
    tag: 'kubernetes',
    roles: ['ingest'],
    summary: 'Upload a cluster inventory (and NetworkPolicies)',
    description:
      "The output of `kubectl get pods,services,endpointslices,nodes,networkpolicies,namespaces,replicasets,deployments,jobs,cronjobs,statefulsets,daemonsets -A -o json` (a v1 List), or YAML manifests. Kept with the time it was received; workers resolve every connection end against the snapshots by the connection's time.",
    query: z.object({
      source: z.string().max(200).optional(),
      cluster: ClusterName,
      observed_at: z.coerce.number().positive().optional().openapi({
        description: 'When the snapshot was taken (epoch seconds): pods absent from it end there. Default: unknown (pods live from their creationTimestamp)',
      }),
    }),
    rawBody: { required: true, content: { 'application/json': { schema: { type: 'object' } }, 'application/yaml': { schema: { type: 'string' } } } },
    responses: { 201: { description: 'Kept: what it held', content: { 'application/json': { schema: z.record(z.unknown()) } } } },
    async handler({ req, res, query, principal }) {
      const text = await readText(req, ctx.cfg.limits.inventoryBytes, 'the inventory');
      const source = query.source ?? `api:${principal.name}`;
      const summary = await ctx.inventory.add(text, source, query.observed_at, query.cluster);
      // Records stored before their inventory arrived get its identities too: upload order does not matter.
      const range = snapshotRange(text, source, query.observed_at ?? null);
      const job = await ctx.queues.resolutions.add(
        { inventory: summary.id, cluster: summary.cluster, from: range.from, to: range.to, receivedAt: summary.receivedAt },
        { jobId: String(summary.id) },
      );
      res.status(201).json({ ...summary, resolution: { job: job.id, href: `/api/v1/inventory/${summary.id}/resolution`, from: range.from, to: range.to } });
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/inventory/resolutions',
    operationId: 'listInventoryResolutions',
    tag: 'kubernetes',
    roles: ['analyst', 'ingest'],
    summary: 'The re-resolutions of stored records after inventory uploads, newest first',
    description: 'Not for namespace-scoped keys: the figures count the records of every namespace.',
    query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
    responses: {
      200: {
        description: 'Jobs',
        content: { 'application/json': { schema: z.object({ resolutions: z.array(z.record(z.unknown())), counts: z.record(z.number()) }) } },
      },
    },
    async handler({ res, query }) {
      const q = ctx.queues.resolutions;
      res.json({ resolutions: (await q.list({ limit: query.limit })).map(resolutionView), counts: await q.counts() });
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/inventory/:id/resolution',
    operationId: 'getInventoryResolution',
    tag: 'kubernetes',
    roles: ['analyst', 'ingest'],
    summary: 'The re-resolution of the stored records a snapshot can change: state and progress',
    description:
      "When a snapshot arrives, the stored records of its cluster within its time range (from the earliest start of its pods and services; since ever when it holds NetworkPolicies) are resolved again against the cluster's inventory and written back where their identity or verdict changed.",
    params: z.object({ id: z.coerce.number().int().min(1) }),
    responses: {
      200: { description: 'The job', content: { 'application/json': { schema: z.record(z.unknown()) } } },
      404: { description: 'No such snapshot, or its job is no longer kept' },
    },
    async handler({ res, params }) {
      const j = await ctx.queues.resolutions.get(String(params.id));
      if (!j) throw new ApiError(404, `no re-resolution of inventory ${params.id} (no such snapshot, or its finished job is no longer kept)`);
      res.json(resolutionView(j));
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/inventory',
    scope: 'none',
    operationId: 'listInventorySnapshots',
    tag: 'kubernetes',
    roles: ['analyst', 'ingest'],
    summary: 'The inventory snapshots the service holds',
    responses: { 200: { description: 'Snapshots', content: { 'application/json': { schema: z.object({ snapshots: z.array(z.record(z.unknown())) }) } } } },
    async handler({ res }) {
      res.json({ snapshots: await ctx.inventory.summaries() });
    },
  });

  defineRoute(kit, {
    method: 'post',
    path: '/policies/what-if',
    scope: 'filtered',
    operationId: 'policyWhatIf',
    tag: 'kubernetes',
    roles: ['analyst'],
    expensive: true,
    summary: 'What would these NetworkPolicies do to the traffic we saw?',
    description:
      "Evaluates proposed policies (applied over the inventory's, or alone with replace=true) against the stored connections that match q/from/to, and answers with the connections they would deny, grouped by edge.",
    body: TimeRange.extend({
      policies: z
        .union([z.string().max(8 * 1024 * 1024), z.record(z.unknown()), z.array(z.record(z.unknown()))])
        .openapi({ description: 'NetworkPolicy objects: a List, an array, one object, or YAML text' }),
      replace: z.boolean().default(false),
      cluster: ClusterName,
      max_connections: z.number().int().min(1).max(5_000_000).default(1_000_000),
    }).strict(),
    responses: {
      200: { description: 'The would-be denials by edge', content: { 'application/json': { schema: z.record(z.unknown()) } } },
      409: { description: 'No inventory uploaded yet: identities are needed to evaluate policies' },
    },
    async handler({ res, body, store }) {
      const base = await resolverOf(body.cluster);
      const doc = typeof body.policies === 'string' ? parseK8sText(body.policies, 'policies') : body.policies;
      const proposedObjs = parseObjects(doc, 'policies').objects.filter((o): o is NetworkPolicyObject => o.kind === 'NetworkPolicy');
      if (proposedObjs.length === 0) throw new ApiError(400, 'policies: no NetworkPolicy object in what was given');
      const inv = base.store;
      const proposed = new PolicySet(body.replace ? proposedObjs : applyProposal(inv.networkPolicies(), proposedObjs));
      const current = new PolicySet(inv.networkPolicies());
      const whatIf = new WhatIf(new K8sResolver(inv, { localNets: ctx.cfg.localNets ? [...ctx.cfg.localNets] : undefined, policies: null }), proposed, current);
      let after: string | undefined;
      let seen = 0;
      let truncated = false;
      for (;;) {
        const page = await store.search({
          query: clusterQuery(body.q, body.cluster),
          from: body.from,
          to: body.to,
          limit: 5000,
          after,
          sort: { field: '@timestamp', order: 'asc' },
        });
        for (const r of page.records) {
          whatIf.add(r);
          if (++seen >= body.max_connections) break;
        }
        if (seen >= body.max_connections) {
          truncated = page.next !== null || page.records.length > 0;
          break;
        }
        if (page.next === null) break;
        after = page.next;
      }
      res.json({ ...whatIf.report(), truncated, policies: proposedObjs.map((p) => `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`) });
    },
  });

  defineRoute(kit, {
    method: 'post',
    path: '/policies/suggest',
    scope: 'filtered',
    operationId: 'policySuggest',
    tag: 'kubernetes',
    roles: ['analyst'],
    expensive: true,
    summary: 'Least-privilege NetworkPolicies from the traffic we saw',
    description:
      'One NetworkPolicy per workload (Ingress and Egress) allowing exactly the stored connections that match q/from/to, post-DNAT; egress to kube-dns kept; egress to public addresses as ipBlocks (external=cidr) or left out (external=omit); connections under an open alert left out (use_alerts). Answers with the YAML for `kubectl apply`, the objects, the left-out edges and the verification: a what-if of the suggestion alone against the same connections, plus probes of every unobserved pair of observed workloads.',
    body: TimeRange.extend({
      external: z.enum(['cidr', 'omit']).default('cidr'),
      external_prefix: z.number().int().min(8).max(32).default(32).openapi({ description: 'Widen non-node IPv4 ipBlocks to this prefix length' }),
      namespaces: z
        .array(z.string().min(1).max(253))
        .max(1000)
        .optional()
        .openapi({ description: 'Write policies for these namespaces only (default: all observed but kube-system)' }),
      cluster: ClusterName,
      use_alerts: z.boolean().default(true).openapi({ description: 'Leave out connections under an open, unsuppressed alert in the window' }),
      max_connections: z.number().int().min(1).max(5_000_000).default(1_000_000),
    }).strict(),
    responses: {
      200: { description: 'The suggestion and its verification', content: { 'application/json': { schema: z.record(z.unknown()) } } },
      409: { description: 'No inventory uploaded yet: identities are needed to write policies' },
    },
    async handler({ res, body, store }) {
      const base = await resolverOf(body.cluster);
      const alerts: Alert[] = [];
      if (body.use_alerts) {
        let after: string | undefined;
        do {
          const page = await store.searchAlerts({ status: 'open', from: body.from, to: body.to, limit: 1000, after });
          alerts.push(...page.alerts);
          after = page.next ?? undefined;
        } while (after !== undefined && alerts.length < 100_000);
      }
      const resolver = new K8sResolver(base.store, { localNets: ctx.cfg.localNets ? [...ctx.cfg.localNets] : undefined, policies: null });
      const s = new PolicySuggester(resolver, { external: body.external, ipv4Prefix: body.external_prefix, namespaces: body.namespaces, alerts });
      let recordsAfter: string | undefined;
      let seen = 0;
      let truncated = false;
      for (;;) {
        const page = await store.search({
          query: clusterQuery(body.q, body.cluster),
          from: body.from,
          to: body.to,
          limit: 5000,
          after: recordsAfter,
          sort: { field: '@timestamp', order: 'asc' },
        });
        for (const r of page.records) {
          if (seen >= body.max_connections) {
            truncated = true;
            break;
          }
          s.add(r);
          seen++;
        }
        if (truncated || page.next === null) break;
        recordsAfter = page.next;
      }
      const rep = s.suggest();
      res.json({ ...rep, yaml: suggestionYaml(rep), alerts_considered: alerts.length, truncated });
    },
  });
}
