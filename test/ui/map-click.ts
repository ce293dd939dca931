/**
 * Clicking an edge of the service map's canvas, as a user does: the click opens the edge's panel,
 * whose first link opens its connections. The map publishes where it drew
 * each edge (`data-edge-points`, canvas coordinates); the canvas may still be settling when the
 * test reads them (a resize after the edge table grew, a redraw on a loaded machine), so a click
 * that opens nothing is retried with fresh points and a fresh box, a few times at most. A map
 * whose edges never open their connections still fails.
 */
import type { Page } from 'playwright-core';

export async function clickMapEdge(
  page: Page,
  pick: (points: Record<string, [number, number]>, box: { x: number; y: number; width: number; height: number }) => [number, number] | undefined,
  attempts = 3,
): Promise<void> {
  const map = page.locator('[data-testid=map][data-edge-points]');
  let last = '';
  for (let i = 0; i < attempts; i++) {
    // Two frames: whatever redraw was pending has happened before the points are read.
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(null))))');
    const points = JSON.parse((await map.getAttribute('data-edge-points')) ?? '{}') as Record<string, [number, number]>;
    const box = await map.boundingBox();
    if (box === null) throw new Error('the map has no box on the page');
    const at = pick(points, box);
    if (at === undefined) throw new Error('no edge point to click');
    last = `(${Math.round(at[0])}, ${Math.round(at[1])}) in a ${Math.round(box.width)}x${Math.round(box.height)} map`;
    await page.mouse.click(box.x + at[0], box.y + at[1]);
    try {
      const panel = page.locator('[data-testid=map-panel][data-edge]');
      await panel.waitFor({ timeout: 10_000 });
      await panel.getByRole('link', { name: /^Show its .* connections$/ }).click();
      await page.waitForURL(/\/connections\?/, { timeout: 10_000 });
      return;
    } catch {
      // Not opened: read the points again and click again.
    }
  }
  throw new Error(`${attempts} clicks on the map's edge at ${last} opened no connections`);
}
