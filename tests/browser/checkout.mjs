// Browser test of the hosted checkout page: a buyer on a phone pays an ETH
// invoice on an Anvil chain in two parts, watches the page follow the payment
// live ("n of N confirmations", explorer links) and is sent back to the shop
// once the payment confirms. Also: the QR switch between the wallet link and
// the address alone, the fiat price of an invoice priced in fiat, the page
// with JavaScript off, a choice of network, a refunded invoice, and the
// page of an unknown invoice.
//
// Environment:
//   PAGE_URL        full URL of the checkout page of a pending ETH invoice
//   FIAT_PAGE_URL   the page of a pending ETH invoice priced in fiat
//   FIAT_TEXT       the price as that page must show it, e.g. "¥199.00 CNY"
//   FIAT_RATE       the rate as it must show it, e.g. "1 ETH = 20000 CNY"
//   CHOICE_PAGE_URL the page of an order offered as ETH or as BNB on a second
//                   chain; the buyer picks the second, CHOICE_NETWORK
//   REFUND_PAGE_URL the page of a confirmed ETH invoice with two refunds:
//                   REFUND_DONE ETH completed, REFUND_OPEN ETH requested
//   NOT_FOUND_URL   the page of an invoice that does not exist
//   EXPLORER_TX     the explorer's transaction URL template ({txid})
//   EXPLORER_ADDRESS the explorer's address URL template ({address})
//   QR_DIR          directory for the QR code images (qr-uri.png, qr-address.png)
//   RPC_URL         Anvil JSON-RPC endpoint
//   FROM            unlocked Anvil account with ETH (0x address)
//   REDIRECT_URL    where the page must send the buyer after confirmation
//   CONFIRM_BLOCKS  blocks to mine (anvil_mine) for the payment to confirm
//   SCREENSHOT_DIR  directory for the PNG screenshots
//   CHROMIUM        browser binary (/usr/bin/chromium)
//   PLAYWRIGHT_DIR  directory whose node_modules holds playwright-core
//
// Prints one line per step; exits 0 when every step passed, 1 otherwise.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const OVERALL_TIMEOUT_MS = 150_000;
const WEI_DECIMALS = 18;

// The strings the page must show (the page's default dictionary).
const TEXT = {
  en: {
    pending: 'Waiting for payment',
    confirmed: 'Payment confirmed',
    tx_confirmed: 'Confirmed',
    confirmations: (n, of) => `${n} of ${of} confirmations`,
    hint_uri: 'Holds the address and the amount',
    hint_address: 'Holds only the address',
    not_found: 'Invoice not found',
    refunds: (done, open) => `${done} ETH was refunded to you. The shop is refunding ${open} ETH to you.`,
    choose: 'Choose how to pay',
  },
  zh: {
    pending: '等待付款',
    rate: '汇率 ',
    not_found: '未找到此付款请求',
    refunds: (done, open) => `已向您退款 ${done} ETH。 商家正在向您退款 ${open} ETH。`,
    choose: '选择付款方式',
  },
};

class StepError extends Error {}

let step = 'setup';   // the step under way, for the failure message

function env(name) {
  const v = process.env[name];
  if (!v) throw new StepError(`environment variable ${name} is not set`);
  return v;
}

async function loadPlaywright() {
  if (process.env.PLAYWRIGHT_DIR) {
    return createRequire(path.join(process.env.PLAYWRIGHT_DIR, 'noop.js'))('playwright-core');
  }
  return import('playwright-core');
}

// ---- exact decimal arithmetic ----

function toWei(amount) {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(amount);
  if (!m) throw new StepError(`amount ${JSON.stringify(amount)} is not a plain decimal`);
  const frac = m[2] || '';
  if (frac.length > WEI_DECIMALS) throw new StepError(`amount ${amount} has more than ${WEI_DECIMALS} decimals`);
  return BigInt(m[1]) * 10n ** BigInt(WEI_DECIMALS) + BigInt(frac.padEnd(WEI_DECIMALS, '0') || '0');
}

function fromWei(wei) {
  const unit = 10n ** BigInt(WEI_DECIMALS);
  const frac = (wei % unit).toString().padStart(WEI_DECIMALS, '0').replace(/0+$/, '');
  return frac ? `${wei / unit}.${frac}` : `${wei / unit}`;
}

// Decimal strings may differ in trailing zeros ("1.50" and "1.5"): compare values.
function sameAmount(a, b) {
  try {
    return toWei(a) === toWei(b);
  } catch {
    return false;
  }
}

// ---- JSON-RPC ----

let rpcId = 0;
async function rpc(url, method, params) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params }),
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new StepError(`${method}: RPC answered HTTP ${res.status}`);
  const body = await res.json();
  if (body.error) throw new StepError(`${method}: ${body.error.message || JSON.stringify(body.error)}`);
  return body.result;
}

// ---- page helpers ----

const byId = (id) => `[data-testid="${id}"]`;

async function text(page, id) {
  return (await page.locator(byId(id)).first().textContent() ?? '').trim();
}

async function attr(page, id, name) {
  return page.locator(byId(id)).first().getAttribute(name);
}

async function visible(page, id) {
  return page.locator(byId(id)).first().isVisible();
}

// The visible elements' texts, in page order.
async function texts(page, id) {
  const all = page.locator(`${byId(id)}:visible`);
  return (await all.allTextContents()).map((t) => t.trim());
}

// Every visible link's href, target and rel.
async function links(page, id) {
  return page.locator(`${byId(id)}:visible`).evaluateAll((els) =>
    els.map((a) => ({ href: a.getAttribute('href'), target: a.getAttribute('target'), rel: a.getAttribute('rel') || '' })));
}

function checkExternal(link, want, what) {
  check(link.href === want, `${what} links to "${link.href}", expected "${want}"`);
  check(link.target === '_blank', `${what} does not open in a new tab (target "${link.target}")`);
  const rel = link.rel.split(/\s+/);
  check(rel.includes('noopener') && rel.includes('noreferrer'), `${what} has rel "${link.rel}", not "noopener noreferrer"`);
}

async function qrLoaded(page, content) {
  await until(`the QR code holding the ${content} to load`, 5000, () =>
    page.locator(byId('qr')).first().evaluate((img, c) =>
      (img.getAttribute('data-content') || c) === c && img.complete && img.naturalWidth > 0 &&
      (c === 'address') === img.currentSrc.includes('address_only=true'), content));
}

// Polls `probe` until it returns a truthy value; fails with `what` and the last value seen.
async function until(what, timeoutMs, probe, describe) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last && last.ok !== false) return last;
    } catch (e) {
      if (e instanceof StepError) throw e;
      last = e.message;
    }
    if (Date.now() > end) {
      const seen = describe ? await describe().catch(() => '') : JSON.stringify(last);
      throw new StepError(`timed out after ${timeoutMs / 1000} s waiting for ${what}${seen ? ` (${seen})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitStatus(page, status, timeoutMs) {
  await until(`status ${status}`, timeoutMs,
    async () => (await attr(page, 'status', 'data-status')) === status,
    async () => `page shows ${await attr(page, 'status', 'data-status')}: "${await text(page, 'status')}"`);
}

function check(cond, message) {
  if (!cond) throw new StepError(message);
}

// ---- the run ----

async function main() {
  const pageUrl = env('PAGE_URL');
  const rpcUrl = env('RPC_URL');
  const from = env('FROM');
  const redirectUrl = env('REDIRECT_URL');
  const confirmBlocks = Number(env('CONFIRM_BLOCKS'));
  const shots = env('SCREENSHOT_DIR');
  const fiatUrl = env('FIAT_PAGE_URL');
  const fiatText = env('FIAT_TEXT');
  const fiatRate = env('FIAT_RATE');
  const notFoundUrl = env('NOT_FOUND_URL');
  const refundUrl = env('REFUND_PAGE_URL');
  const choiceUrl = env('CHOICE_PAGE_URL');
  const choiceNetwork = env('CHOICE_NETWORK');
  const refundDone = env('REFUND_DONE');
  const refundOpen = env('REFUND_OPEN');
  const explorerTx = env('EXPLORER_TX');
  const explorerAddress = env('EXPLORER_ADDRESS');
  const qrDir = env('QR_DIR');
  fs.mkdirSync(qrDir, { recursive: true });
  check(Number.isInteger(confirmBlocks) && confirmBlocks > 0, `CONFIRM_BLOCKS must be a positive integer, not ${process.env.CONFIRM_BLOCKS}`);
  fs.mkdirSync(shots, { recursive: true });
  const origin = new URL(pageUrl).origin;

  const { chromium } = await loadPlaywright();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
    headless: true,
  });

  const problems = [];   // console errors, page errors, failed requests, CSP violations
  const foreign = [];    // requests that left the checkout's origin

  // Records everything a page does that the checkout page must never do.
  function watch(page, label, expected404) {
    const w = { closing: false, left: false };
    page.on('console', (msg) => {
      // The browser reports the expected 404 of an unknown invoice's page too.
      if (expected404 && msg.location().url === expected404 && / 404 /.test(msg.text())) return;
      if (msg.type() === 'error' && !w.closing && !w.left) problems.push(`${label}: console error: ${msg.text()}`);
    });
    page.on('pageerror', (err) => {
      if (!w.closing && !w.left) problems.push(`${label}: page error: ${err.message}`);
    });
    page.on('request', (req) => {
      const u = req.url();
      if (u.startsWith(redirectUrl)) {
        w.left = true;   // the buyer is back at the shop; its page is not ours to judge
        return;
      }
      if (w.left || u.startsWith('data:')) return;
      let o;
      try { o = new URL(u).origin; } catch { o = u; }
      if (o !== origin) foreign.push(`${label}: ${u}`);
    });
    page.on('requestfailed', (req) => {
      if (w.closing || w.left) return;
      problems.push(`${label}: request failed: ${req.url()} (${req.failure()?.errorText})`);
    });
    page.on('response', (res) => {
      if (w.closing || w.left) return;
      if (res.status() === 404 && res.url() === expected404) return;
      if (res.status() >= 400) problems.push(`${label}: HTTP ${res.status()} for ${res.url()}`);
    });
    return w;
  }

  async function newPage(options, label, expected404) {
    const context = await browser.newContext(options);
    // Content-policy violations are reported to the console as errors too;
    // this listener names the directive plainly.
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`);
      });
    });
    // The shop's page is answered here, so the redirect needs no shop server.
    await context.route((u) => u.href.startsWith(redirectUrl), (route) => route.fulfill({
      status: 200,
      contentType: 'text/html',
      body: '<!doctype html><title>Shop</title><p>Back at the shop.</p>',
    }));
    const page = await context.newPage();
    const w = watch(page, label, expected404);
    return {
      page,
      context,
      async close() {
        w.closing = true;
        await context.close();
      },
    };
  }

  const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
  const log = (n, msg) => console.log(`step ${n} ok: ${msg}`);

  const deadline = setTimeout(() => {
    console.error(`checkout browser test FAILED at ${step}: overall timeout of ${OVERALL_TIMEOUT_MS / 1000} s`);
    browser.close().finally(() => process.exit(1));
    setTimeout(() => process.exit(1), 5000).unref();
  }, OVERALL_TIMEOUT_MS);
  deadline.unref();

  try {
    // 1. Phone, English, pending.
    step = 'step 1 (phone, English, pending)';
    const buyer = await newPage({ ...phone, locale: 'en-US' }, 'phone-en');
    const page = buyer.page;
    await page.goto(pageUrl, { waitUntil: 'load' });
    await waitStatus(page, 'pending', 5000);
    check((await text(page, 'status')) === TEXT.en.pending,
      `status text is "${await text(page, 'status')}", expected "${TEXT.en.pending}"`);
    const amountDue = await text(page, 'amount');
    check(/^\d+(\.\d+)?$/.test(amountDue), `amount "${amountDue}" is not a decimal amount`);
    check(toWei(amountDue) > 1n, `amount ${amountDue} ETH is too small to pay in two parts`);
    const assetNetwork = await text(page, 'asset-network');
    check(assetNetwork.includes('ETH'), `asset-network "${assetNetwork}" does not name ETH`);
    const address = await text(page, 'address');
    check(/^0x[0-9a-fA-F]{40}$/.test(address), `address "${address}" is not an EVM address`);
    await until('the QR code image to load', 5000, () =>
      page.locator(byId('qr')).evaluate((img) => img.complete && img.naturalWidth > 0));
    const countdown = await text(page, 'countdown');
    check(/^\d{1,3}:\d{2}(:\d{2})?$/.test(countdown), `countdown "${countdown}" is not a time`);
    const wallet = (await attr(page, 'open-wallet', 'href')) || '';
    check(wallet.startsWith('ethereum:'), `open-wallet link "${wallet}" is not an ethereum: URI`);
    check(wallet.toLowerCase().includes(address.toLowerCase()), `open-wallet link "${wallet}" does not name ${address}`);
    for (const id of ['shop-name', 'order-id', 'copy-address', 'copy-amount', 'lang-switch']) {
      check(await visible(page, id), `${id} is not visible`);
    }
    check(!(await visible(page, 'remaining')), 'remaining is visible on a pending invoice');
    await page.screenshot({ path: path.join(shots, 'phone-en-pending.png'), fullPage: true });
    check(!(await visible(page, 'fiat')), 'a fiat price shows on an invoice priced in ETH');
    const [addressLink] = await links(page, 'address-explorer');
    check(!!addressLink, 'no explorer link for the address');
    checkExternal(addressLink, explorerAddress.replace('{address}', address), 'the address explorer link');
    log(1, `phone page pending: ${amountDue} ETH to ${address}, "${assetNetwork}", expires in ${countdown}`);

    // 1b. The QR switch: the wallet link by default for ETH, then the address
    // alone; the copy buttons still copy the address and the exact amount.
    step = 'step 1b (QR switch)';
    await buyer.context.grantPermissions(['clipboard-write'], { origin });
    check((await attr(page, 'qr-mode-uri', 'aria-pressed')) === 'true', 'the QR code does not hold the wallet link by default');
    check((await attr(page, 'qr-mode-address', 'aria-pressed')) === 'false', '"Address only" is pressed by default');
    await qrLoaded(page, 'uri');
    check((await text(page, 'qr-hint')).startsWith(TEXT.en.hint_uri), `QR hint "${await text(page, 'qr-hint')}"`);
    await page.locator(byId('qr')).first().screenshot({ path: path.join(qrDir, 'qr-uri.png') });
    await page.locator(byId('qr-mode-address')).click();
    await qrLoaded(page, 'address');
    check((await attr(page, 'qr-mode-address', 'aria-pressed')) === 'true', '"Address only" is not pressed once chosen');
    check((await text(page, 'qr-hint')).startsWith(TEXT.en.hint_address), `QR hint "${await text(page, 'qr-hint')}"`);
    check(new URL(page.url()).searchParams.get('qr') === 'address', `URL ${page.url()} does not keep qr=address`);
    await page.locator(byId('qr')).first().screenshot({ path: path.join(qrDir, 'qr-address.png') });
    await page.screenshot({ path: path.join(shots, 'phone-en-address-only.png'), fullPage: true });
    // What the page hands the clipboard, recorded on the way (a headless
    // browser's clipboard may refuse a page without focus).
    await page.evaluate(() => {
      window.pwCopied = [];
      const real = navigator.clipboard.writeText.bind(navigator.clipboard);
      navigator.clipboard.writeText = (t) => {
        window.pwCopied.push(t);
        return real(t).catch(() => undefined);
      };
    });
    for (const [button, want] of [['copy-address', address], ['copy-amount', amountDue]]) {
      await page.locator(byId(button)).click();
      await until(`${button} to copy ${want}`, 3000,
        async () => (await page.evaluate(() => window.pwCopied[window.pwCopied.length - 1])) === want,
        async () => `copied ${JSON.stringify(await page.evaluate(() => window.pwCopied))}`);
    }
    await page.locator(byId('qr-mode-uri')).click();
    await qrLoaded(page, 'uri');
    log('1b', 'the QR code switches between the wallet link and the address; copy buttons copy address and amount');

    // 2. Phone, Chinese from Accept-Language, then the language switch.
    step = 'step 2 (phone, Chinese)';
    const zh = await newPage({ ...phone, locale: 'zh-CN' }, 'phone-zh');
    await zh.page.goto(pageUrl, { waitUntil: 'load' });
    await waitStatus(zh.page, 'pending', 5000);
    const zhStatus = await text(zh.page, 'status');
    check(zhStatus === TEXT.zh.pending, `status text is "${zhStatus}", expected "${TEXT.zh.pending}"`);
    const zhLang = await zh.page.evaluate(() => document.documentElement.lang);
    check(zhLang === 'zh-CN', `<html lang> is "${zhLang}", expected zh-CN`);
    await zh.page.screenshot({ path: path.join(shots, 'phone-zh-pending.png'), fullPage: true });
    await zh.page.locator(byId('lang-switch')).click();
    await until('English text after the language switch', 3000,
      async () => (await text(zh.page, 'status')) === TEXT.en.pending,
      async () => `status text "${await text(zh.page, 'status')}"`);
    check(new URL(zh.page.url()).searchParams.get('lang') === 'en', `URL ${zh.page.url()} does not carry lang=en`);
    check((await zh.page.evaluate(() => document.documentElement.lang)) === 'en', '<html lang> did not switch to en');
    await zh.close();
    log(2, `Chinese page shows "${zhStatus}"; the switch turns it English with ?lang=en`);

    // 3. Desktop.
    step = 'step 3 (desktop)';
    const desk = await newPage({ viewport: { width: 1280, height: 800 }, locale: 'en-US' }, 'desktop-en');
    await desk.page.goto(pageUrl, { waitUntil: 'load' });
    await waitStatus(desk.page, 'pending', 5000);
    await until('the QR code image to load', 5000, () =>
      desk.page.locator(byId('qr')).evaluate((img) => img.complete && img.naturalWidth > 0));
    await desk.page.screenshot({ path: path.join(shots, 'desktop-en-pending.png'), fullPage: true });
    await desk.close();
    log(3, 'desktop page rendered');

    // 4. Pay half: the page turns underpaid and asks for the rest.
    step = 'step 4 (partial payment)';
    const dueWei = toWei(amountDue);
    const firstWei = dueWei / 2n;
    const restWei = dueWei - firstWei;
    const tx1 = await rpc(rpcUrl, 'eth_sendTransaction', [{ from, to: address, value: '0x' + firstWei.toString(16) }]);
    await waitStatus(page, 'underpaid', 20_000);
    await until('the remaining amount to show', 5000, () => visible(page, 'remaining'));
    const shownRest = await text(page, 'amount');
    check(sameAmount(shownRest, fromWei(restWei)),
      `amount shows "${shownRest}" after paying ${fromWei(firstWei)}, expected ${fromWei(restWei)}`);
    const remaining = await text(page, 'remaining');
    check(sameAmount(remaining, fromWei(restWei)), `remaining shows "${remaining}", expected ${fromWei(restWei)}`);
    await until('"1 of N confirmations" on the payment', 10_000,
      async () => (await texts(page, 'tx-confirmations')).join('|') === TEXT.en.confirmations(1, confirmBlocks),
      async () => `tags ${JSON.stringify(await texts(page, 'tx-confirmations'))}`);
    const [tx1Link] = await links(page, 'tx-explorer');
    check(!!tx1Link, 'the payment has no explorer link');
    checkExternal(tx1Link, explorerTx.replace('{txid}', tx1), 'the payment\'s explorer link');
    await page.screenshot({ path: path.join(shots, 'phone-en-underpaid.png'), fullPage: true });
    log(4, `sent ${fromWei(firstWei)} ETH (${tx1}); page asks for the remaining ${shownRest} ETH`);

    // 5. Pay the rest: received, waiting for confirmations.
    step = 'step 5 (full payment)';
    const tx2 = await rpc(rpcUrl, 'eth_sendTransaction', [{ from, to: address, value: '0x' + toWei(shownRest).toString(16) }]);
    await until('status paid', 20_000, async () => {
      const s = await attr(page, 'status', 'data-status');
      if (s === 'confirmed') {
        throw new StepError('the invoice confirmed without showing "paid" first: the daemon must need more than one confirmation');
      }
      return s === 'paid';
    }, async () => `page shows ${await attr(page, 'status', 'data-status')}: "${await text(page, 'status')}"`);
    check(!(await visible(page, 'remaining')), 'remaining is still visible once paid in full');
    // Each payment counts its own blocks: the first is one deeper.
    const paidTags = [TEXT.en.confirmations(2, confirmBlocks), TEXT.en.confirmations(1, confirmBlocks)].join('|');
    await until(`tags "${paidTags}"`, 10_000,
      async () => (await texts(page, 'tx-confirmations')).join('|') === paidTags,
      async () => `tags ${JSON.stringify(await texts(page, 'tx-confirmations'))}`);
    const txLinks = (await links(page, 'tx-explorer')).map((l) => l.href);
    check(JSON.stringify(txLinks) === JSON.stringify([tx1, tx2].map((t) => explorerTx.replace('{txid}', t))),
      `payment explorer links ${JSON.stringify(txLinks)}`);
    await page.screenshot({ path: path.join(shots, 'phone-en-paid.png'), fullPage: true });
    log(5, `sent ${shownRest} ETH (${tx2}); page shows "${await text(page, 'status')}"`);

    // 6. Confirm: the page says so, then returns the buyer to the shop.
    step = 'step 6 (confirmation and redirect)';
    await rpc(rpcUrl, 'anvil_mine', ['0x' + confirmBlocks.toString(16)]);
    await waitStatus(page, 'confirmed', 20_000);
    const doneTags = (await texts(page, 'tx-confirmations')).join('|');
    check(doneTags === [TEXT.en.tx_confirmed, TEXT.en.tx_confirmed].join('|'), `tags once confirmed: "${doneTags}"`);
    await page.screenshot({ path: path.join(shots, 'phone-en-confirmed.png'), fullPage: true });
    const link = (await attr(page, 'redirect-link', 'href')) || '';
    check(link.startsWith(redirectUrl), `redirect-link "${link}" does not lead to ${redirectUrl}`);
    const confirmedText = await text(page, 'status');
    await page.waitForURL((u) => u.href.startsWith(redirectUrl), { timeout: 10_000 })
      .catch(() => { throw new StepError(`the page did not go to ${redirectUrl} (it is at ${page.url()})`); });
    log(6, `mined ${confirmBlocks} blocks; page showed "${confirmedText}" and went to ${page.url()}`);
    await buyer.close();

    // 7. JavaScript off: the confirmed invoice shows its real amount,
    // status and payments, written by the server.
    step = 'step 7 (no JavaScript, confirmed)';
    const nojs = await newPage({ ...phone, locale: 'en-US', javaScriptEnabled: false }, 'phone-en-nojs');
    await nojs.page.goto(pageUrl, { waitUntil: 'load' });
    check((await attr(nojs.page, 'status', 'data-status')) === 'confirmed', `no-JS page status is ${await attr(nojs.page, 'status', 'data-status')}`);
    check((await text(nojs.page, 'status')) === TEXT.en.confirmed, `no-JS status text "${await text(nojs.page, 'status')}"`);
    const nojsAmount = await text(nojs.page, 'amount');
    check(sameAmount(nojsAmount, amountDue), `no-JS page shows amount "${nojsAmount}", expected ${amountDue}`);
    check((await texts(nojs.page, 'tx-confirmations')).join('|') === doneTags, `no-JS tags ${JSON.stringify(await texts(nojs.page, 'tx-confirmations'))}`);
    const nojsLinks = (await links(nojs.page, 'tx-explorer')).map((l) => l.href);
    check(JSON.stringify(nojsLinks) === JSON.stringify(txLinks), `no-JS explorer links ${JSON.stringify(nojsLinks)}`);
    check((await text(nojs.page, 'address')) === address, 'the no-JS page does not show the address');
    await nojs.page.screenshot({ path: path.join(shots, 'phone-en-nojs-confirmed.png'), fullPage: true });
    await nojs.close();
    log(7, `without JavaScript: "${TEXT.en.confirmed}", ${nojsAmount} ETH, ${nojsLinks.length} payments linked`);

    // 8. An invoice priced in fiat shows the price and the rate, in both
    // languages, with and without JavaScript.
    step = 'step 8 (fiat price)';
    for (const [locale, js] of [['en-US', true], ['zh-CN', true], ['zh-CN', false]]) {
      const label = `phone-${locale.slice(0, 2)}-fiat${js ? '' : '-nojs'}`;
      const p = await newPage({ ...phone, locale, javaScriptEnabled: js }, label);
      await p.page.goto(fiatUrl, { waitUntil: 'load' });
      if (js) await waitStatus(p.page, 'pending', 5000);
      const fiat = await text(p.page, 'fiat');
      check(fiat === fiatText, `${label}: fiat line "${fiat}", expected "${fiatText}"`);
      const rate = await text(p.page, 'fiat-rate');
      const wantRate = locale.startsWith('zh') ? TEXT.zh.rate + fiatRate : fiatRate;
      check(rate.startsWith(wantRate), `${label}: rate line "${rate}", expected it to start with "${wantRate}"`);
      if (!js) {
        check(/^\d+(\.\d+)?$/.test(await text(p.page, 'amount')), `${label}: amount "${await text(p.page, 'amount')}"`);
        check((await text(p.page, 'status')) === TEXT.zh.pending, `${label}: status "${await text(p.page, 'status')}"`);
        await until('the QR code image to load', 5000, () =>
          p.page.locator(byId('qr')).first().evaluate((img) => img.complete && img.naturalWidth > 0));
      }
      await p.page.screenshot({ path: path.join(shots, `${label}.png`), fullPage: true });
      await p.close();
    }
    log(8, `the fiat-priced invoice shows "${fiatText}" and "${fiatRate}" in English and Chinese, with and without JavaScript`);

    // 8b. A refunded invoice tells the buyer what came back and what is on
    // its way, in both languages, with and without JavaScript.
    step = 'step 8b (refunds)';
    for (const [locale, js] of [['en-US', true], ['zh-CN', true], ['zh-CN', false]]) {
      const label = `phone-${locale.slice(0, 2)}-refund${js ? '' : '-nojs'}`;
      const p = await newPage({ ...phone, locale, javaScriptEnabled: js }, label);
      await p.page.goto(refundUrl, { waitUntil: 'load' });
      if (js) await waitStatus(p.page, 'confirmed', 5000);
      const want = TEXT[locale.slice(0, 2)].refunds(refundDone, refundOpen);
      const got = await text(p.page, 'refund');
      check(got === want, `${label}: refund line "${got}", expected "${want}"`);
      await p.page.screenshot({ path: path.join(shots, `${label}.png`), fullPage: true });
      await p.close();
    }
    log('8b', `the refunded invoice shows "${TEXT.en.refunds(refundDone, refundOpen)}" in English and Chinese`);

    // 8c. An order offered on two networks: the buyer sees both, in either
    // language, picks the second and lands on its invoice's page.
    step = 'step 8c (choice of network)';
    for (const [locale, js] of [['en-US', true], ['zh-CN', true], ['zh-CN', false]]) {
      const lang = locale.slice(0, 2);
      const label = `phone-${lang}-choice${js ? '' : '-nojs'}`;
      const p = await newPage({ ...phone, locale, javaScriptEnabled: js }, label);
      await p.page.goto(choiceUrl, { waitUntil: 'load' });
      const st = await text(p.page, 'status');
      check(st === TEXT[lang].choose, `${label}: status "${st}", expected "${TEXT[lang].choose}"`);
      const options = await texts(p.page, 'option');
      check(options.length === 2 && options[0].startsWith('ETH') && options[1].startsWith('BNB'), `${label}: options ${JSON.stringify(options)}`);
      await p.page.screenshot({ path: path.join(shots, `${label}.png`), fullPage: true });
      if (lang === 'en') {
        await p.page.locator(byId('option')).nth(1).click();
        await p.page.waitForURL((u) => !u.search.includes('option=') && u.href !== choiceUrl, { timeout: 10000 });
        await waitStatus(p.page, 'pending', 5000);
        const badge = await text(p.page, 'asset-network');
        check(badge.includes(choiceNetwork), `${label}: the chosen page shows "${badge}", expected ${choiceNetwork}`);
        await p.page.screenshot({ path: path.join(shots, `${label}-chosen.png`), fullPage: true });
      }
      await p.close();
    }
    log('8c', `the buyer chose ${choiceNetwork} of two networks and got its invoice`);

    // 9. An unknown invoice: a 404 with the page's look, in the buyer's language.
    step = 'step 9 (unknown invoice)';
    for (const locale of ['en-US', 'zh-CN']) {
      const label = `phone-${locale.slice(0, 2)}-404`;
      const p = await newPage({ ...phone, locale }, label, notFoundUrl);
      const res = await p.page.goto(notFoundUrl, { waitUntil: 'load' });
      check(res.status() === 404, `${label}: HTTP ${res.status()}`);
      const want = locale.startsWith('zh') ? TEXT.zh.not_found : TEXT.en.not_found;
      check((await text(p.page, 'status')) === want, `${label}: "${await text(p.page, 'status')}", expected "${want}"`);
      const look = await p.page.locator(byId('not-found')).evaluate((el) => {
        const cs = getComputedStyle(el);
        return { radius: cs.borderTopLeftRadius, width: el.getBoundingClientRect().width };
      });
      check(look.radius === '16px' && look.width > 300, `${label}: the card is not styled (${JSON.stringify(look)})`);
      await p.page.screenshot({ path: path.join(shots, `${label}.png`), fullPage: true });
      await p.close();
    }
    log(9, 'unknown invoices get a styled 404 in English and Chinese');

    // 10. Nothing went wrong on the way, and nothing left the checkout's origin.
    step = 'step 10 (errors and requests)';
    check(problems.length === 0, `the page reported problems:\n  ${problems.join('\n  ')}`);
    check(foreign.length === 0, `the page made requests outside ${origin}:\n  ${foreign.join('\n  ')}`);
    log(10, `no console errors, failed requests or content-policy violations; every request went to ${origin}`);
    console.log(`checkout browser test passed; screenshots in ${shots}`);
  } finally {
    clearTimeout(deadline);
    await browser.close();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    const msg = e instanceof StepError ? e.message : (e && e.stack) || String(e);
    console.error(`checkout browser test FAILED at ${step}: ${msg}`);
    process.exit(1);
  },
);
