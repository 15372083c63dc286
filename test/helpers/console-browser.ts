/**
 * @module test/helpers/console-browser
 * Driving the web console in a real browser: Debian's Chromium (installed by
 * scripts/ensure-deps.sh --test) through playwright-core, whose own browser download is not
 * used. Pages record what a test asserts on: console errors, page errors, /v1/ answers.
 */
import assert from "node:assert/strict";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** Headless Chromium for tests: no sandbox (root), no GPU, no network of its own beyond what a page asks. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** A page that records console errors, page errors and the status of every /v1/ answer. */
export async function openPage(context: BrowserContext) {
  const page = await context.newPage();
  const errors: string[] = [];
  const api: Array<{ path: string; status: number }> = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("response", (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith("/v1/")) api.push({ path, status: r.status() });
  });
  return { page, errors, api };
}

/** Nothing of the daemon's data anywhere in the page: none of `secrets` (function names, invocation ids), no rows. */
export async function assertNoData(page: Page, secrets: string[]) {
  const html = await page.content();
  for (const s of secrets) assert.ok(!html.includes(s), `"${s}" is not in the page`);
  assert.equal(await page.locator("#console").isHidden(), true, "the console's panels are hidden");
  assert.equal(await page.locator("#console tbody tr").count(), 0, "no table rows");
}
