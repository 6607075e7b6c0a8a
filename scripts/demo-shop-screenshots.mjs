// Screenshots of checkout pages for the shop demo (scripts/demo-shop.sh), in
// the system Chromium driven by playwright-core, as a buyer's phone shows
// them.
//
//   node scripts/demo-shop-screenshots.mjs DIR NAME STATUS URL [NAME STATUS URL ...]
//
// For each page: opens URL, waits until the page shows STATUS (pending,
// underpaid, paid, confirmed, …) and its images have loaded, and saves the
// whole page as DIR/NAME.png. Prints one "saved PATH" line per page.
//
// Environment:
//   CHROMIUM        browser binary (default /usr/bin/chromium)
//   PLAYWRIGHT_DIR  directory whose node_modules holds playwright-core
//   TMPDIR          where the browser keeps its profile while it runs
//
// Gives up after 60 s; exits 0 when every page was saved, 1 otherwise.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const OVERALL_TIMEOUT_MS = 60_000;
const PAGE_TIMEOUT_MS = 15_000;
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

async function loadPlaywright() {
  if (process.env.PLAYWRIGHT_DIR) {
    return createRequire(path.join(process.env.PLAYWRIGHT_DIR, 'noop.js'))('playwright-core');
  }
  return import('playwright-core');
}

async function main() {
  const [dir, ...rest] = process.argv.slice(2);
  if (!dir || rest.length === 0 || rest.length % 3 !== 0) {
    throw new Error('usage: demo-shop-screenshots.mjs DIR NAME STATUS URL [NAME STATUS URL ...]');
  }
  fs.mkdirSync(dir, { recursive: true });
  const { chromium } = await loadPlaywright();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
    headless: true,
    handleSIGINT: false,
  });
  const deadline = setTimeout(() => {
    console.error(`screenshots: gave up after ${OVERALL_TIMEOUT_MS / 1000} s`);
    browser.close().finally(() => process.exit(1));
    setTimeout(() => process.exit(1), 5000).unref();
  }, OVERALL_TIMEOUT_MS);
  deadline.unref();
  try {
    const context = await browser.newContext({ ...PHONE, locale: 'en-US' });
    for (let i = 0; i < rest.length; i += 3) {
      const [name, status, url] = rest.slice(i, i + 3);
      const page = await context.newPage();
      await page.goto(url, { waitUntil: 'load', timeout: PAGE_TIMEOUT_MS });
      // The page renders from its own script: wait for the status it shows
      // and for every image it shows (the QR code) to be drawn.
      await page.waitForFunction((want) => {
        const app = document.getElementById('pw-app');
        if (!app || app.hidden || app.getAttribute('data-status') !== want) return false;
        return Array.from(document.images)
          .filter((img) => img.offsetParent !== null)
          .every((img) => img.complete && img.naturalWidth > 0);
      }, status, { timeout: PAGE_TIMEOUT_MS }).catch(async () => {
        const shown = await page.locator('#pw-app').getAttribute('data-status').catch(() => null);
        throw new Error(`${url} does not show ${status} (it shows ${shown})`);
      });
      const file = path.join(dir, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      await page.close();
      console.log(`saved ${file}`);
    }
  } finally {
    clearTimeout(deadline);
    await browser.close();
  }
}

// Ctrl-C is the demo's to handle: it stops this script with SIGTERM, on
// which the browser is closed.
process.on('SIGINT', () => {});

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`screenshots failed: ${e && e.message ? e.message : String(e)}`);
    process.exit(1);
  },
);
