/**
 * The detectors' administration: their learning state, their settings (thresholds and learning
 * window), the baseline of known-normal behaviour, and a reset of what the continuous engine
 * learned. Admin keys only: each of these changes what alerts for everyone.
 */
import { z } from 'zod';
import { DetectorConfigError } from '../../../../detectors/config';
import { MAX_LEARN_SECONDS } from '../../config';
import type { ServiceContext } from '../../context';
import { BASELINE_MAX_ENTRIES } from '../../detector-control';
import { ApiError, defineRoute, type RouteKit } from '../route';

const ADMIN = ['admin'] as const;

const entries = (what: string) =>
  z
    .array(z.string().min(1).max(1024))
    .max(BASELINE_MAX_ENTRIES)
    .openapi({ description: `${what} (at most ${BASELINE_MAX_ENTRIES})` });

const BaselineBody = z
  .object({
    version: z.literal(1),
    edges: entries('new-edge: known edges, "ns/workload|destination|proto/port"'),
    sensitive: entries('sensitive-destination: "ns/workload|category"').default([]),
    long: entries('long-connection: edges that hold long-lived connections normally').default([]),
    beacon: entries('beacon: pairs that poll periodically as a matter of course, "wl:ns/workload|dom:name" or "...|ip:address"').optional(),
  })
  .strict()
  .openapi('DetectorBaseline', { description: 'As `eastwatch analyze --save-baseline` writes it' });

const SettingsBody = z
  .object({
    config: z
      .record(z.unknown())
      .default({})
      .refine((o) => Object.keys(o).length <= 32, 'at most 32 keys (one per detector, and max_alerts)')
      .openapi({ description: 'Thresholds overriding the defaults (any subset of detectors/config.ts); unknown keys are refused' }),
    learn_seconds: z
      .number()
      .nonnegative()
      .max(MAX_LEARN_SECONDS)
      .nullable()
      .default(null)
      .openapi({ description: "Learning window of every learning detector, seconds of data time; null: each detector's learning_seconds" }),
  })
  .strict()
  .openapi('DetectorSettingsBody');

const Settings = z
  .object({
    source: z.enum(['api', 'configuration', 'default']),
    config: z.record(z.unknown()).openapi({ description: 'Every threshold in force' }),
    given: z.record(z.unknown()).nullable().openapi({ description: 'The thresholds as set (API or configuration); null: defaults' }),
    learn_seconds: z.number().nullable(),
    updated_at: z.string().nullable(),
    updated_by: z.string().nullable(),
  })
  .openapi('DetectorSettings');

const Window = z.object({ window_start: z.number().nullable(), window_seconds: z.number(), learned: z.number() });
const Learning = z
  .object({
    state: z.enum(['empty', 'learning', 'detecting']),
    start: z.number().nullable().openapi({ description: 'Data time the learning window opened (epoch seconds)' }),
    end: z.number().nullable(),
    seconds: z.number(),
    data_first: z.number().nullable(),
    data_last: z.number().nullable(),
    covered_share: z.number(),
    baseline: z.boolean().openapi({ description: 'Learning replaced by a baseline' }),
    baseline_rev: z.string().nullable(),
    learned: z.record(z.number()).openapi({ description: 'What was learned, per detector' }),
    detectors: z.record(Window),
    warning: z.string().optional(),
    reset_at: z.string().nullable(),
    reset_by: z.string().nullable(),
    settings: z.enum(['api', 'configuration', 'default']),
  })
  .openapi('DetectorLearning');

const BaselineView = z
  .object({
    source: z.enum(['api', 'configuration', 'none', 'learned']),
    rev: z.string().nullable(),
    updated_at: z.string().nullable(),
    updated_by: z.string().nullable(),
    baseline: BaselineBody.nullable(),
  })
  .openapi('DetectorBaselineView');

const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

export function detectorRoutes(kit: RouteKit, ctx: ServiceContext): void {
  const control = ctx.detectors;

  async function settingsView(): Promise<z.infer<typeof Settings>> {
    const eff = await control.effective();
    const api = await control.repo.settings();
    return {
      source: eff.source.settings,
      config: eff.config as unknown as Record<string, unknown>,
      given: api !== null ? api.config : control.startup.given,
      learn_seconds: eff.learnSeconds,
      updated_at: api?.updated_at ?? null,
      updated_by: api?.updated_by ?? null,
    };
  }

  defineRoute(kit, {
    method: 'get',
    path: '/detectors/learning',
    operationId: 'getDetectorLearning',
    tag: 'detectors',
    roles: ADMIN,
    summary: "The continuous detectors' learning window and what they learned",
    description:
      'As the last flow batch left it: the window (data time), the share of the data it covered, what each learning detector learned, whether a baseline replaced learning, and when the state was last reset.',
    responses: { 200: json(Learning, 'Learning state') },
    async handler({ res }) {
      const [state, eff] = await Promise.all([control.learning(), control.effective()]);
      res.json({ ...state, settings: eff.source.settings });
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/detectors/settings',
    operationId: 'getDetectorSettings',
    tag: 'detectors',
    roles: ADMIN,
    summary: 'The detector settings in force and where they come from',
    responses: { 200: json(Settings, 'Settings') },
    async handler({ res }) {
      res.json(await settingsView());
    },
  });

  defineRoute(kit, {
    method: 'put',
    path: '/detectors/settings',
    operationId: 'putDetectorSettings',
    tag: 'detectors',
    roles: ADMIN,
    summary: "Replace the detectors' settings (thresholds, learning window)",
    description:
      "Replaces the configuration's detector settings until cleared (DELETE). Capture jobs started from now on and the next flow batch use them; a changed learning window applies to the continuous window in progress.",
    body: SettingsBody,
    responses: { 200: json(Settings, 'The settings now in force') },
    async handler({ res, body, principal }) {
      try {
        await control.setSettings(body.config, body.learn_seconds, principal.name);
      } catch (e) {
        if (e instanceof DetectorConfigError) throw new ApiError(400, `invalid request body: ${e.message}`);
        throw e;
      }
      res.json(await settingsView());
    },
  });

  defineRoute(kit, {
    method: 'delete',
    path: '/detectors/settings',
    operationId: 'clearDetectorSettings',
    tag: 'detectors',
    roles: ADMIN,
    summary: "Drop the API's settings: back to the configuration's (or the defaults)",
    responses: { 200: json(Settings, 'The settings now in force') },
    async handler({ res }) {
      await control.repo.setSettings(null);
      res.json(await settingsView());
    },
  });

  defineRoute(kit, {
    method: 'get',
    path: '/detectors/baseline',
    operationId: 'getDetectorBaseline',
    tag: 'detectors',
    roles: ADMIN,
    summary: 'The baseline in force, or what the continuous detectors learned as one',
    description:
      "`of=in-force` (default): the baseline given through the API, else the configuration's. `of=learned`: what the continuous detectors consider normal now (edges that alerted left out), to PUT back later as the baseline of a clean period.",
    query: z.object({ of: z.enum(['in-force', 'learned']).default('in-force') }),
    responses: { 200: json(BaselineView, 'Baseline') },
    async handler({ res, query }) {
      if (query.of === 'learned') {
        res.json({ source: 'learned', rev: null, updated_at: null, updated_by: null, baseline: await control.learnedBaseline() });
        return;
      }
      const eff = await control.effective();
      const stored = eff.source.baseline === 'api' ? await control.repo.baseline() : null;
      res.json({
        source: eff.source.baseline,
        rev: eff.baseline?.rev ?? null,
        updated_at: stored?.updated_at ?? null,
        updated_by: stored?.updated_by ?? null,
        baseline: eff.baseline?.baseline ?? null,
      });
    },
  });

  defineRoute(kit, {
    method: 'put',
    path: '/detectors/baseline',
    operationId: 'putDetectorBaseline',
    tag: 'detectors',
    roles: ADMIN,
    summary: 'Give the detectors a baseline of known-normal behaviour',
    description:
      "Replaces the configuration's baseline. Capture jobs started from now on skip their learning windows; the continuous detectors adopt it at the next flow batch (what they learned so far stays known: reset first to drop it).",
    body: BaselineBody,
    responses: { 200: json(BaselineView, 'The baseline now in force') },
    async handler({ res, body, principal }) {
      const s = await control.setBaseline(
        { version: 1, edges: body.edges, sensitive: body.sensitive, long: body.long, ...(body.beacon !== undefined ? { beacon: body.beacon } : {}) },
        principal.name,
      );
      res.json({ source: 'api', rev: s?.rev ?? null, updated_at: s?.updated_at ?? null, updated_by: s?.updated_by ?? null, baseline: s?.baseline ?? null });
    },
  });

  defineRoute(kit, {
    method: 'delete',
    path: '/detectors/baseline',
    operationId: 'clearDetectorBaseline',
    tag: 'detectors',
    roles: ADMIN,
    summary: "Drop the API's baseline (back to the configuration's, if any)",
    responses: { 200: json(BaselineView, 'The baseline now in force') },
    async handler({ res }) {
      await control.setBaseline(null, '');
      const eff = await control.effective();
      res.json({ source: eff.source.baseline, rev: eff.baseline?.rev ?? null, updated_at: null, updated_by: null, baseline: eff.baseline?.baseline ?? null });
    },
  });

  defineRoute(kit, {
    method: 'post',
    path: '/detectors/reset',
    operationId: 'resetDetectors',
    tag: 'detectors',
    roles: ADMIN,
    summary: 'Forget what the continuous detectors learned',
    description:
      "Clears the continuous engine's state (learning windows, learned edges, windows in progress, alert grouping; stored alerts stay): the next flow batch opens a new learning window, or adopts the baseline in force. `baseline: true` also drops the API's baseline, `settings: true` the API's settings.",
    body: z
      .object({
        baseline: z.boolean().default(false),
        settings: z.boolean().default(false),
      })
      .strict(),
    responses: {
      200: json(z.object({ reset_at: z.string(), baseline_dropped: z.boolean(), settings_dropped: z.boolean(), learning: Learning }), 'Reset'),
    },
    async handler({ res, body, principal }) {
      if (body.baseline) await control.setBaseline(null, principal.name);
      if (body.settings) await control.repo.setSettings(null);
      const r = await control.reset(principal.name);
      const eff = await control.effective();
      res.json({
        ...r,
        baseline_dropped: body.baseline,
        settings_dropped: body.settings,
        learning: { ...(await control.learning()), settings: eff.source.settings },
      });
    },
  });
}
