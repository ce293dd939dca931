/**
 * Debian's headless Chromium driven by playwright-core (the machine cannot download browsers),
 * with a fresh profile per run, and where the end-to-end tests keep their screenshots.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { REPO } from '../service/harness';

export const CHROMIUM = process.env.EASTWATCH_CHROMIUM ?? '/usr/bin/chromium';
export const UI_INDEX = path.join(process.env.EASTWATCH_UI_DIR ?? path.join(REPO, 'dist', 'ui'), 'index.html');
export const ARTIFACTS = path.join(REPO, 'test-artifacts', 'ui');

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  // WebGL (the large service map) on SwiftShader, Chromium's CPU renderer: newer Chromium no
  // longer falls back to it on its own.
  '--enable-unsafe-swiftshader',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** What is missing to run the browser tests, or null when nothing is. */
export function missing(): string | null {
  if (!fs.existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set EASTWATCH_CHROMIUM)`;
  if (!fs.existsSync(UI_INDEX)) return `the UI is not built: no ${UI_INDEX} (npx vite build --config src/ui/vite.config.ts)`;
  return null;
}

/** Skips the suite when the browser or the built UI is absent; under CI=true that fails instead. */
export function requireBrowser(ctx: Mocha.Context): void {
  const why = missing();
  if (!why) return;
  if (process.env.CI === 'true') throw new Error(`browser tests cannot run: ${why}`);
  console.warn(`      skipped: ${why}`);
  ctx.skip();
}

export interface Browser {
  context: BrowserContext;
  profile: string;
  close(): Promise<void>;
}

/**
 * `args`: extra Chromium switches (e.g. --host-resolver-rules to reach the server under another name).
 * `timezoneId`: the IANA zone the pages' clock runs in (CDP Emulation.setTimezoneOverride), so
 * local-time displays are the same on any machine.
 */
export async function launch(args: readonly string[] = [], opts: { timezoneId?: string } = {}): Promise<Browser> {
  // A persistent context is how Playwright takes an explicit --user-data-dir: a new one each run.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...ARGS, ...args],
    acceptDownloads: true,
    viewport: { width: 1440, height: 900 },
    timeout: 60_000,
    ...(opts.timezoneId ? { timezoneId: opts.timezoneId } : {}),
  });
  return {
    context,
    profile,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function artifact(name: string): string {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}
