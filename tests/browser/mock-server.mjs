// Development aid: serves the hosted checkout page (src/api/checkout/assets) with a
// fake invoice so the page can be previewed and tested without the daemon.
//
// Run it:
//   node tests/browser/mock-server.mjs            # http://127.0.0.1:8099/pay/inv_mock
//
// Environment (all optional):
//   PORT            port to listen on (8099)
//   MOCK_ASSET      asset of the invoice (ETH)
//   MOCK_NETWORK    network label (Anvil)
//   MOCK_AMOUNT     amount due, whole units (0.0123456789)
//   MOCK_TTL        seconds until the invoice expires (900)
//   MOCK_THEME      "dark" for a dark theme.css
//   MOCK_TEXT       JSON of merchant string overrides, e.g. {"en":{"open_wallet":"Pay now"}}
//   MOCK_LOGO       "none" to leave the shop without a logo
//   CONFIRM_BLOCKS  blocks for a payment to confirm (3)
//   REDIRECT_URL    where the page returns the buyer (http://127.0.0.1:PORT/thanks)
//   ANVIL_URL       watch a real Anvil node instead of the built-in fake chain
//
// The invoice moves on in three ways:
//   - POST /mock/advance            pending -> underpaid -> paid -> confirmed
//   - POST /mock/set?status=NAME    force expired, cancelled, paid_late, ...
//     POST /mock/reset              a fresh pending invoice
//     POST /mock/gone               the status endpoint answers 404 from now on
//     POST /mock/fail?count=N       the next N status requests answer 503
//   - payments: with ANVIL_URL the server polls Anvil for the balance of the
//     invoice address; without it, /rpc is a fake JSON-RPC endpoint taking
//     eth_sendTransaction (credits the invoice), anvil_mine and eth_blockNumber,
//     so tests/browser/checkout.mjs runs against this server with
//     RPC_URL=http://127.0.0.1:8099/rpc FROM=0x... PAGE_URL=http://127.0.0.1:8099/pay/inv_mock
//
// Every response carries the content security policy the daemon sends.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ASSETS = path.resolve(HERE, '../../src/api/checkout/assets');
const PORT = Number(process.env.PORT || 8099);
const BASE = '/pay';
const ID = 'inv_mock';
const ASSET = process.env.MOCK_ASSET || 'ETH';
const NETWORK = process.env.MOCK_NETWORK || 'Anvil';
const DECIMALS = ASSET === 'BTC' ? 8 : ASSET === 'USDT' ? 6 : 18;
const CONFIRM = Number(process.env.CONFIRM_BLOCKS || 3);
const TTL = Number(process.env.MOCK_TTL || 900);
const ANVIL_URL = process.env.ANVIL_URL || '';
const REDIRECT = process.env.REDIRECT_URL || `http://127.0.0.1:${PORT}/thanks`;
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// ---- exact decimal <-> base units ----

function toBase(s, decimals) {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) throw new Error(`not a decimal: ${s}`);
  const frac = (m[2] || '').padEnd(decimals, '0');
  if (frac.length > decimals) throw new Error(`too many decimals: ${s}`);
  return BigInt(m[1]) * 10n ** BigInt(decimals) + BigInt(frac || '0');
}

function fromBase(v, decimals) {
  const unit = 10n ** BigInt(decimals);
  const whole = v / unit;
  const frac = (v % unit).toString().padStart(decimals, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : `${whole}`;
}

// ---- the fake invoice ----

let inv;           // mutable invoice record
let waiters = [];  // pending long-poll responses
let gone = false;
let failNext = 0;
let block = 1;     // fake chain height

function newInvoice() {
  const now = Math.floor(Date.now() / 1000);
  const address = ANVIL_URL
    ? '0x' + crypto.randomBytes(20).toString('hex')
    : '0x52908400098527886E0F7030069857D2E4169EE7';
  return {
    id: ID,
    order_id: '10042',
    due: toBase(process.env.MOCK_AMOUNT || '0.0123456789', DECIMALS),
    address,
    expires_at: now + TTL,
    forced: null,
    payments: [],   // {txid, amount (base units), height}
    version: 1,
  };
}

function paidBase() {
  return inv.payments.reduce((a, p) => a + p.amount, 0n);
}

function confirmedPayment(p) {
  return p.height > 0 && block - p.height + 1 >= CONFIRM;
}

function statusOf() {
  if (inv.forced) return inv.forced;
  const paid = paidBase();
  const now = Date.now() / 1000;
  if (paid >= inv.due) {
    return inv.payments.every(confirmedPayment) ? 'confirmed' : 'paid';
  }
  if (now >= inv.expires_at) return 'expired';
  return paid > 0n ? 'underpaid' : 'pending';
}

function publicInvoice() {
  const paid = paidBase();
  const remaining = paid >= inv.due ? 0n : inv.due - paid;
  const status = statusOf();
  const wei = status === 'underpaid' ? remaining : inv.due;
  let uri;
  if (ASSET === 'BTC') uri = `bitcoin:${inv.address}?amount=${fromBase(wei, DECIMALS)}`;
  else if (ASSET === 'USDT') uri = `tron:${inv.address}?amount=${fromBase(wei, DECIMALS)}&token=TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t`;
  else uri = `ethereum:${inv.address}@31337?value=${wei}`;
  return {
    id: inv.id,
    order_id: inv.order_id,
    status,
    asset: ASSET,
    network: NETWORK,
    address: inv.address,
    amount_due: fromBase(inv.due, DECIMALS),
    paid: fromBase(paid, DECIMALS),
    remaining: fromBase(remaining, DECIMALS),
    excess: paid > inv.due ? fromBase(paid - inv.due, DECIMALS) : null,
    payment_uri: uri,
    expires_at: inv.expires_at,
    now: Math.floor(Date.now() / 1000),
    payments: inv.payments.map((p) => ({
      txid: p.txid,
      amount: fromBase(p.amount, DECIMALS),
      confirmed: confirmedPayment(p),
    })),
    redirect_url: REDIRECT,
    version: `v${inv.version}-${status}`,
  };
}

// Bump the version and answer every waiting long-poll.
function changed() {
  inv.version += 1;
  const body = publicInvoice();
  for (const w of waiters) {
    clearTimeout(w.timer);
    json(w.res, 200, body);
  }
  waiters = [];
}

// Expiry happens with the clock, not with a request.
let lastStatus = null;
setInterval(() => {
  if (!inv) return;
  const s = statusOf();
  if (lastStatus !== null && s !== lastStatus) changed();
  lastStatus = s;
}, 500);

// ---- Anvil watcher ----

async function rpc(url, method, params) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = await res.json();
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

async function watchAnvil() {
  try {
    const head = Number(BigInt(await rpc(ANVIL_URL, 'eth_blockNumber', [])));
    const balance = BigInt(await rpc(ANVIL_URL, 'eth_getBalance', [inv.address, 'latest']));
    const known = paidBase();
    let dirty = head !== block;
    block = head;
    if (balance > known) {
      inv.payments.push({ txid: `balance+${balance - known}@${head}`, amount: balance - known, height: head });
      dirty = true;
    }
    if (dirty) changed();
  } catch (e) {
    console.error('anvil:', e.message);
  }
}

// ---- HTTP ----

function send(res, code, type, body, extra = {}) {
  res.writeHead(code, {
    'content-type': type,
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
    ...extra,
  });
  res.end(body);
}

function json(res, code, obj) {
  send(res, code, 'application/json', JSON.stringify(obj));
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function pickLang(req, url) {
  const q = url.searchParams.get('lang');
  if (q) return q.toLowerCase().startsWith('zh') ? 'zh' : 'en';
  const al = String(req.headers['accept-language'] || '').toLowerCase();
  return al.trim().startsWith('zh') ? 'zh' : 'en';
}

// The page's texts as the daemon sends them: the built-in ones
// (assets/text.json) with MOCK_TEXT's wording over them.
function pageTexts() {
  const texts = JSON.parse(fs.readFileSync(path.join(ASSETS, 'text.json'), 'utf8'));
  const over = process.env.MOCK_TEXT ? JSON.parse(process.env.MOCK_TEXT) : {};
  for (const [lang, words] of Object.entries(over)) texts[lang] = { ...(texts[lang] || {}), ...words };
  return texts;
}

function page(req, url) {
  const lang = pickLang(req, url);
  const pub = publicInvoice();
  const state = {
    lang,
    base: BASE,
    status_url: `${BASE}/${ID}/status`,
    qr_url: `${BASE}/${ID}/qr.svg`,
    shop: { name: 'Example Shop', logo_url: process.env.MOCK_LOGO === 'none' ? null : `${BASE}/assets/logo` },
    text: pageTexts(),
    invoice: pub,
  };
  const noscript = `<p>Send <strong>${escapeHtml(pub.remaining)} ${escapeHtml(pub.asset)}</strong> ` +
    `(${escapeHtml(pub.network)}) to</p><p><code>${escapeHtml(pub.address)}</code></p>`;
  const title = `Example Shop · ${pub.amount_due} ${pub.asset}`;
  const tpl = fs.readFileSync(path.join(ASSETS, 'index.html'), 'utf8');
  return tpl
    .replaceAll('{{LANG}}', lang === 'zh' ? 'zh-CN' : 'en')
    .replaceAll('{{TITLE}}', escapeHtml(title))
    .replaceAll('{{BASE}}', BASE)
    .replaceAll('{{STATE}}', JSON.stringify(state).replaceAll('<', '\\u003c'))
    .replaceAll('{{NOSCRIPT}}', noscript);
}

function themeCss() {
  if (process.env.MOCK_THEME === 'dark') {
    return ':root{--pw-accent:#60a5fa;--pw-bg:#0b1220;--pw-card:#111a2e;--pw-text:#e5e7eb;--pw-accent-text:#0b1220}\n';
  }
  return ':root{--pw-accent:#2563eb;--pw-bg:#f1f5f9;--pw-card:#ffffff;--pw-text:#0f172a}\n';
}

// A QR-looking picture (not a real code): finder squares plus noise from the URI.
function fakeQr(text) {
  const n = 29;
  const hash = crypto.createHash('sha256').update(text).digest();
  const cells = [];
  const finder = (x, y) => {
    const inBox = (ox, oy) => x >= ox && x < ox + 7 && y >= oy && y < oy + 7;
    for (const [ox, oy] of [[0, 0], [n - 7, 0], [0, n - 7]]) {
      if (inBox(ox, oy)) {
        const dx = x - ox, dy = y - oy;
        return dx === 0 || dy === 0 || dx === 6 || dy === 6 || (dx >= 2 && dx <= 4 && dy >= 2 && dy <= 4) ? 1 : 0;
      }
    }
    return -1;
  };
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      let on = finder(x, y);
      if (on === -1) {
        const i = (y * n + x) % (hash.length * 8);
        on = (hash[i >> 3] >> (i & 7)) & 1 ^ ((x * 7 + y * 13) % 3 === 0 ? 1 : 0);
      }
      if (on) cells.push(`M${x + 4} ${y + 4}h1v1h-1z`);
    }
  }
  const size = n + 8;
  return `<?xml version="1.0" encoding="UTF-8"?><svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="256" height="256" viewBox="0 0 ${size} ${size}" shape-rendering="crispEdges"><rect width="${size}" height="${size}" fill="#fff"/><path fill="#000" d="${cells.join('')}"/></svg>`;
}

const LOGO = '<svg xmlns="http://www.w3.org/2000/svg" width="80" height="80" viewBox="0 0 80 80"><rect width="80" height="80" rx="18" fill="#0f766e"/><path d="M22 52 40 24l18 28z" fill="#ecfeff"/></svg>';

function readBody(req) {
  return new Promise((resolve) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => resolve(data));
  });
}

async function fakeRpc(req, res) {
  const body = JSON.parse((await readBody(req)) || '{}');
  const reply = (result) => json(res, 200, { jsonrpc: '2.0', id: body.id, result });
  const error = (message) => json(res, 200, { jsonrpc: '2.0', id: body.id, error: { code: -32000, message } });
  switch (body.method) {
    case 'eth_sendTransaction': {
      const tx = (body.params || [])[0] || {};
      if (String(tx.to).toLowerCase() !== inv.address.toLowerCase()) return error('unexpected recipient');
      if (!/^0x[0-9a-f]+$/i.test(String(tx.value))) return error('value must be hex');
      block += 1;
      const txid = '0x' + crypto.randomBytes(32).toString('hex');
      inv.payments.push({ txid, amount: BigInt(tx.value), height: block });
      changed();
      return reply(txid);
    }
    case 'anvil_mine': {
      const n = Number(BigInt((body.params || [])[0] || '0x1'));
      block += n;
      changed();
      return reply(null);
    }
    case 'eth_blockNumber':
      return reply('0x' + block.toString(16));
    default:
      return error(`method ${body.method} not supported by the mock`);
  }
}

async function mockControl(url, res) {
  const what = url.pathname.slice('/mock/'.length);
  if (what === 'reset') {
    inv = newInvoice();
    gone = false;
  } else if (what === 'gone') {
    gone = true;
    for (const w of waiters) { clearTimeout(w.timer); json(w.res, 404, { error: 'not found' }); }
    waiters = [];
    return json(res, 200, { ok: true });
  } else if (what === 'fail') {
    failNext = Number(url.searchParams.get('count') || 1);
    return json(res, 200, { ok: true });
  } else if (what === 'set') {
    const s = url.searchParams.get('status');
    inv.forced = s === 'auto' ? null : s;
  } else if (what === 'advance') {
    const st = statusOf();
    if (st === 'pending') {
      block += 1;
      inv.payments.push({ txid: '0x' + crypto.randomBytes(32).toString('hex'), amount: inv.due / 2n, height: block });
    } else if (st === 'underpaid') {
      block += 1;
      inv.payments.push({ txid: '0x' + crypto.randomBytes(32).toString('hex'), amount: inv.due - paidBase(), height: block });
    } else if (st === 'paid') {
      block += CONFIRM;
    }
  } else {
    return json(res, 404, { error: 'unknown mock control' });
  }
  changed();
  return json(res, 200, publicInvoice());
}

inv = newInvoice();

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, `http://${req.headers.host || '127.0.0.1'}`);
  const p = url.pathname;
  try {
    if (req.method === 'POST' && p === '/rpc' && !ANVIL_URL) return await fakeRpc(req, res);
    if (req.method === 'POST' && p.startsWith('/mock/')) return await mockControl(url, res);
    if (req.method !== 'GET') return send(res, 405, 'text/plain', 'method not allowed');

    if (p === `${BASE}/assets/checkout.css`) return send(res, 200, 'text/css; charset=utf-8', fs.readFileSync(path.join(ASSETS, 'checkout.css')));
    if (p === `${BASE}/assets/checkout.js`) return send(res, 200, 'text/javascript; charset=utf-8', fs.readFileSync(path.join(ASSETS, 'checkout.js')));
    if (p === `${BASE}/assets/theme.css`) return send(res, 200, 'text/css; charset=utf-8', themeCss());
    if (p === `${BASE}/assets/logo`) return send(res, 200, 'image/svg+xml', LOGO);
    if (p === `${BASE}/${ID}`) return send(res, 200, 'text/html; charset=utf-8', page(req, url));
    if (p === `${BASE}/${ID}/qr.svg`) return send(res, 200, 'image/svg+xml', fakeQr(publicInvoice().payment_uri));
    if (p === `${BASE}/${ID}/status`) {
      if (gone) return json(res, 404, { error: 'not found' });
      if (failNext > 0) { failNext -= 1; return send(res, 503, 'text/plain', 'unavailable'); }
      const since = url.searchParams.get('since');
      const wait = Math.min(Number(url.searchParams.get('wait') || 0), 30);
      const body = publicInvoice();
      if (!since || since !== body.version || wait <= 0) return json(res, 200, body);
      const w = { res, timer: null };
      w.timer = setTimeout(() => {
        waiters = waiters.filter((x) => x !== w);
        json(res, 200, publicInvoice());
      }, wait * 1000);
      res.on('close', () => { clearTimeout(w.timer); waiters = waiters.filter((x) => x !== w); });
      waiters.push(w);
      return;
    }
    if (p === '/thanks') return send(res, 200, 'text/html; charset=utf-8', '<!doctype html><title>Thanks</title><p>Thank you for your order.</p>');
    return send(res, 404, 'text/plain', 'not found');
  } catch (e) {
    console.error(e);
    return send(res, 500, 'text/plain', String(e.message || e));
  }
});

if (ANVIL_URL) setInterval(watchAnvil, 300);

server.listen(PORT, '127.0.0.1', () => {
  console.log(`mock checkout on http://127.0.0.1:${PORT}${BASE}/${ID} (address ${inv.address}${ANVIL_URL ? `, watching ${ANVIL_URL}` : ', fake RPC at /rpc'})`);
});
