/**
 * The analyst UI: static assets built by Vite into dist/ui, served by the API process. Every
 * other path that is not the API falls back to index.html so that the UI's own routes (with the
 * query in the URL) can be shared as links. The UI holds the API key in memory or session storage
 * and sends it as a header; nothing here is behind a key because nothing here holds data.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import express from 'express';

const REPO = [3, 4].map((up) => path.resolve(__dirname, ...Array<string>(up).fill('..'))).find((d) => fs.existsSync(path.join(d, 'package.json'))) as string;

export const UI_DIR = process.env.EASTWATCH_UI_DIR ?? path.join(REPO, 'dist', 'ui');

/** The UI's pages: every path the API, metrics, admin and health routes do not take. */
export const UI_ROUTE = /^\/(?!api\/|metrics$|admin\/|healthz$).*/;

/** Mounts the UI when it was built; returns whether it was. */
export function mountUi(app: express.Express, dir = UI_DIR): boolean {
  const index = path.join(dir, 'index.html');
  if (!fs.existsSync(index)) return false;
  app.use(express.static(dir, { index: false, maxAge: '1h', immutable: false }));
  app.get(UI_ROUTE, (_req, res) => {
    res.set('Cache-Control', 'no-cache').sendFile(index);
  });
  return true;
}
