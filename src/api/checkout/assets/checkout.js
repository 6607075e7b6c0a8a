/* paywatch hosted checkout page.
 *
 * Reads the page state from the #pw-state JSON block, renders the invoice,
 * keeps it live by long-polling the public status endpoint and, once the
 * payment is confirmed, returns the buyer to the shop. The server already
 * wrote the invoice into a <noscript> card for browsers without JavaScript;
 * this script shows the live card instead. Plain ES2017, no dependencies;
 * every string is set through textContent, never as HTML. */
(function () {
  'use strict';

  // The page's texts come with its state (state.text[lang][id], the
  // merchant's wording already applied); these few are for a page whose
  // state could not be read. {name} placeholders are filled in by t().
  var FALLBACK = {
    en: { load_error: 'This payment page could not be loaded. Reload the page or contact the shop.' },
    zh: { load_error: '无法加载此付款页面，请刷新页面或联系商家。' }
  };

  var PAYABLE = { pending: true, underpaid: true };
  // No further change is expected once an invoice is in one of these.
  var FINAL = { confirmed: true, cancelled: true, paid_late: true, settled: true };
  var KNOWN = {
    pending: true, underpaid: true, paid: true, confirmed: true,
    expired: true, paid_late: true, cancelled: true, settled: true, invalid: true
  };
  var REDIRECT_DELAY_MS = 3000;
  var POLL_WAIT_S = 25;
  var EXPIRED_POLL_MS = 15000;
  var REQUEST_TIMEOUT_MS = (POLL_WAIT_S + 15) * 1000;

  function $(id) { return document.getElementById(id); }

  var state = null;
  try {
    state = JSON.parse($('pw-state').textContent);
  } catch (e) {
    state = null;
  }
  if (!state || typeof state !== 'object') {
    state = { lang: 'en', invoice: null, broken: true };
  }
  var lang = state.lang === 'zh' ||
    (typeof state.lang !== 'string' && /^zh/i.test(document.documentElement.lang)) ? 'zh' : 'en';
  var texts = state.text && typeof state.text === 'object' ? state.text : {};
  var inv = isInvoice(state.invoice) ? state.invoice : null;
  // What the QR code holds: the buyer's choice, else the chain's default.
  var qrMode = state.qr === 'address' || state.qr === 'uri' ? state.qr :
    (inv && inv.qr_default === 'address' ? 'address' : 'uri');
  var notFound = !inv;
  var offline = false;
  var skewMs = 0;          // server clock minus local clock
  var redirectTimer = null;
  var copyFeedback = {};   // button id -> 'copied' | 'failed' while feedback shows

  function isInvoice(x) {
    return !!x && typeof x === 'object' && typeof x.status === 'string';
  }

  function str(x) {
    return x === null || x === undefined ? '' : String(x);
  }

  function lookup(table, key) {
    return table && typeof table === 'object' && typeof table[key] === 'string' ? table[key] : null;
  }

  function t(key, vars) {
    var s = lookup(texts[lang], key);
    if (s === null) s = lookup(texts.en, key);
    if (s === null) s = lookup(FALLBACK[lang], key) || lookup(FALLBACK.en, key) || key;
    return s.replace(/\{(\w+)\}/g, function (m, k) {
      return vars && Object.prototype.hasOwnProperty.call(vars, k) ? str(vars[k]) : m;
    });
  }

  function setText(id, text) {
    var el = $(id);
    if (el && el.textContent !== text) el.textContent = text;
  }

  function show(id, visible) {
    var el = $(id);
    if (el) el.hidden = !visible;
  }

  function shopName() {
    return (state.shop && typeof state.shop.name === 'string') ? state.shop.name : '';
  }

  // http(s) URLs only: anything else (javascript:, data:, ...) is never followed.
  function safeHttpUrl(u) {
    if (typeof u !== 'string' || !u) return null;
    try {
      var url = new URL(u, location.href);
      return (url.protocol === 'https:' || url.protocol === 'http:') ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  // Same-origin (or data:) images only, as the page's content policy allows nothing else.
  function safeImageUrl(u) {
    if (typeof u !== 'string' || !u) return null;
    try {
      var url = new URL(u, location.href);
      if (url.protocol === 'data:' || url.origin === location.origin) return url.href;
    } catch (e) { /* fall through */ }
    return null;
  }

  // A wallet deep link: a URI scheme that is not one a browser would run or render.
  function safeWalletUri(u) {
    if (typeof u !== 'string') return null;
    var m = /^([a-z][a-z0-9+.-]*):/i.exec(u);
    if (!m) return null;
    var scheme = m[1].toLowerCase();
    if (scheme === 'javascript' || scheme === 'data' || scheme === 'vbscript' ||
        scheme === 'file' || scheme === 'blob') return null;
    return u;
  }

  function withParam(u, key, value) {
    return u + (u.indexOf('?') === -1 ? '?' : '&') + key + '=' + encodeURIComponent(value);
  }

  // A short, stable digest of a string (FNV-1a), for cache keys.
  function digest(s) {
    var h = 0x811c9dc5;
    for (var i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h.toString(36);
  }

  function pad(n) { return n < 10 ? '0' + n : String(n); }

  function formatLeft(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = s % 60;
    return h > 0 ? h + ':' + pad(m) + ':' + pad(sec) : pad(m) + ':' + pad(sec);
  }

  function currentStatus() {
    if (notFound) return 'not_found';
    return inv.status;
  }

  function tick() {
    if (!inv) return;
    var expires = Number(inv.expires_at);
    var el = $('pw-countdown');
    if (!isFinite(expires) || expires <= 0) {
      setText('pw-countdown', '--:--');
      return;
    }
    var left = expires - (Date.now() + skewMs) / 1000;
    setText('pw-countdown', formatLeft(left));
    el.classList.toggle('pw-urgent', left < 300);
  }

  function renderCopyButton(id, labelKey) {
    var btn = $(id);
    var fb = copyFeedback[id];
    btn.textContent = fb === 'copied' ? t('copied') : fb === 'failed' ? t('copy_failed') : t('copy');
    btn.classList.toggle('pw-copied', fb === 'copied');
    btn.setAttribute('aria-label', fb ? btn.textContent : t(labelKey));
  }

  // Confirmed, or how far it is: "2 of 12 confirmations".
  function confirmationText(p) {
    if (p.confirmed) return t('tx_confirmed');
    var n = Number(p.confirmations);
    var required = Number(p.confirmations_required);
    var counted = p.confirmations !== null && p.confirmations !== undefined && isFinite(n);
    if (counted && p.confirmations_required !== null && p.confirmations_required !== undefined &&
        isFinite(required) && required > 0) {
      return t('tx_confirmations', { n: Math.min(n, required), required: required });
    }
    if (counted) return t('tx_depth', { n: n });
    return t('tx_pending');
  }

  function setLink(wrapId, linkId, url, text) {
    var link = $(linkId);
    if (url) {
      link.href = url;
      link.textContent = text;
    } else {
      link.removeAttribute('href');
    }
    show(wrapId, !!url);
  }

  function renderTxs() {
    var list = $('pw-tx-list');
    var payments = inv && Array.isArray(inv.payments) ? inv.payments : [];
    var st = currentStatus();
    var visible = payments.length > 0 && st !== 'not_found';
    show('pw-txs', visible);
    while (list.firstChild) list.removeChild(list.firstChild);
    if (!visible) return;
    setText('pw-txs-title', t('txs_title'));
    payments.forEach(function (p) {
      if (!p || typeof p !== 'object') return;
      var li = document.createElement('li');
      li.className = 'pw-tx';
      var amount = document.createElement('span');
      amount.className = 'pw-tx-amount';
      amount.setAttribute('translate', 'no');
      amount.textContent = str(p.amount) + ' ' + str(inv.asset);
      var id = document.createElement('span');
      id.className = 'pw-tx-id';
      id.setAttribute('translate', 'no');
      var txid = str(p.txid);
      var short = txid.length > 30 ? txid.slice(0, 14) + '…' + txid.slice(-12) : txid;
      id.title = txid;
      var explorer = safeHttpUrl(p.explorer_url);
      if (explorer) {
        var a = document.createElement('a');
        a.className = 'pw-tx-link';
        a.setAttribute('data-testid', 'tx-explorer');
        a.href = explorer;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        a.title = t('explorer_tx');
        a.textContent = short;
        id.appendChild(a);
      } else {
        id.textContent = short;
      }
      var tag = document.createElement('span');
      tag.className = 'pw-tag ' + (p.confirmed ? 'pw-tag-ok' : 'pw-tag-wait');
      tag.setAttribute('data-testid', 'tx-confirmations');
      tag.textContent = confirmationText(p);
      li.appendChild(amount);
      li.appendChild(tag);
      li.appendChild(id);
      list.appendChild(li);
    });
  }

  // The price in fiat, when the invoice was priced in fiat, and the rate.
  function renderFiat(underpaid) {
    var p = inv.pricing;
    var priced = !!p && typeof p === 'object' && typeof p.price_text === 'string' && p.price_text !== '';
    show('pw-fiat', priced);
    show('pw-fiat-rate', priced);
    if (!priced) return;
    setText('pw-fiat', underpaid ? t('fiat_total', { price: p.price_text }) : p.price_text);
    var asOf = Number(p.rate_as_of);
    var time = isFinite(asOf) && asOf > 0
      ? new Date(asOf * 1000).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en', { dateStyle: 'medium', timeStyle: 'short' })
      : '';
    setText('pw-fiat-rate', t('fiat_rate', {
      asset: str(inv.asset), rate: str(p.rate), currency: str(p.currency), time: time
    }));
  }

  function renderQr(toPay, asset, payable) {
    ['uri', 'address'].forEach(function (mode) {
      var btn = $(mode === 'uri' ? 'pw-qr-uri' : 'pw-qr-address');
      var on = qrMode === mode;
      btn.setAttribute('aria-pressed', on ? 'true' : 'false');
      btn.classList.toggle('pw-active', on);
      setText(btn.id, t(mode === 'uri' ? 'qr_wallet_link' : 'qr_address_only'));
    });
    $('pw-qr-mode').setAttribute('aria-label', t('qr_mode_label'));
    setText('pw-qr-hint', t(qrMode === 'address' ? 'qr_hint_address' : 'qr_hint_uri'));
    var qr = $('pw-qr');
    qr.alt = t('qr_alt', { amount: toPay, asset: asset });
    if (payable && typeof state.qr_url === 'string' && state.qr_url) {
      // The payment URI changes with the amount still due: a digest of what
      // the image holds in its URL makes the browser fetch it anew.
      var content = qrMode === 'address' ? str(inv.address) : str(inv.payment_uri);
      var base = qrMode === 'address' ? withParam(state.qr_url, 'address_only', 'true') : state.qr_url;
      var src = safeImageUrl(withParam(base, 'v', digest(content)));
      if (src && qr.getAttribute('data-src') !== src) {
        qr.setAttribute('data-src', src);
        qr.setAttribute('data-content', qrMode);
        $('pw-qr-box').hidden = false;
        qr.src = src;
      }
    }
  }

  function render() {
    var root = document.documentElement;
    root.lang = lang === 'zh' ? 'zh-CN' : 'en';

    var app = $('pw-app');
    setText('pw-shop', shopName());
    var switcher = $('pw-lang');
    switcher.setAttribute('aria-label', t('lang_switch_label'));
    Array.prototype.forEach.call(switcher.querySelectorAll('.pw-lang-opt'), function (opt) {
      opt.classList.toggle('pw-active', opt.getAttribute('data-lang') === lang);
    });
    setText('pw-powered', t('powered_by'));

    var st = currentStatus();
    app.setAttribute('data-status', st);
    var box = $('pw-status-box');
    box.setAttribute('data-status', st);
    var statusEl = $('pw-status');
    statusEl.setAttribute('data-status', st);

    setText('pw-offline', t('reconnecting'));
    show('pw-offline', offline && !FINAL[st]);

    if (!inv) {
      // Unknown invoice, or a page whose state could not be read.
      ['pw-amount-box', 'pw-pay', 'pw-progress', 'pw-txs', 'pw-excess', 'pw-redirect']
        .forEach(function (id) { show(id, false); });
      show('pw-order', false);
      if (!state.broken) document.title = shopName() || t('not_found');
      setText('pw-status', state.broken ? t('load_error') : t('not_found'));
      setText('pw-note', state.broken ? '' : t('note_not_found'));
      show('pw-note', !state.broken);
      return;
    }

    var asset = str(inv.asset);
    var network = str(inv.network);
    var payable = !notFound && PAYABLE[st] === true;
    var underpaid = st === 'underpaid';
    var toPay = underpaid ? str(inv.remaining) : str(inv.amount_due);
    // Without a shop name the title loses its dangling separator.
    document.title = t('title', { shop: shopName(), amount: toPay, asset: asset })
      .replace(/^\s*·\s*|\s*·\s*$/g, '');

    show('pw-order', !!str(inv.order_id));
    setText('pw-order-label', t('order'));
    setText('pw-order-id', str(inv.order_id));

    // Amount block.
    show('pw-amount-box', !notFound);
    setText('pw-amount-label', t(underpaid ? 'amount_still_due' : payable ? 'send_exactly' : 'amount_total'));
    setText('pw-amount', toPay);
    var amountEl = $('pw-amount').parentNode;
    var len = toPay.length + asset.length;
    amountEl.classList.toggle('pw-len-m', len > 12 && len <= 16);
    amountEl.classList.toggle('pw-len-l', len > 16 && len <= 21);
    amountEl.classList.toggle('pw-len-xl', len > 21);
    setText('pw-amount-asset', asset);
    renderFiat(underpaid);
    setText('pw-asset-network', network ? asset + ' · ' + network : asset);
    renderCopyButton('pw-copy-amount', 'copy_amount_label');
    show('pw-copy-amount', payable);

    // Status message and its note.
    var msg;
    if (st === 'not_found') msg = t('not_found');
    else if (underpaid) msg = t('status_underpaid', { amount: str(inv.remaining), asset: asset });
    else if (KNOWN[st]) msg = t('status_' + st);
    else msg = t('status_unknown', { status: st });
    setText('pw-status', msg);

    var redirect = st === 'confirmed' || st === 'settled' ? safeHttpUrl(inv.redirect_url) : null;
    var note = '';
    if (st === 'pending') note = t('note_pending');
    else if (underpaid) note = t('note_underpaid');
    else if (st === 'paid') note = t('note_paid');
    else if (st === 'confirmed' || st === 'settled') note = redirect ? t('redirecting') : t('note_confirmed');
    else if (st === 'expired' || st === 'cancelled') {
      note = t('note_do_not_pay');
      var until = Number(inv.amount_reserved_until);
      if (isFinite(until) && until > 0) {
        note += ' ' + t('note_reserved_until', {
          amount: str(inv.amount_due),
          asset: asset,
          time: new Date(until * 1000).toLocaleString()
        });
      }
    }
    else if (st === 'paid_late') note = str(inv.order_id) ? t('note_paid_late', { order: str(inv.order_id) }) : '';
    else if (st === 'invalid') note = t('note_invalid', { order: str(inv.order_id) });
    else if (st === 'not_found') note = t('note_not_found');
    setText('pw-note', note);
    show('pw-note', !!note);

    var excess = (st === 'paid' || st === 'confirmed' || st === 'paid_late') && inv.excess ? str(inv.excess) : '';
    setText('pw-excess', excess ? t('overpaid', { amount: excess, asset: asset }) : '');
    show('pw-excess', !!excess);

    var refunds = Array.isArray(inv.refunds) ? inv.refunds : [];
    var refundText = refunds.map(function (r) {
      var step = r.status === 'completed' || r.status === 'sent' ? r.status : 'requested';
      return t('refund_' + step, { amount: str(r.amount), asset: asset });
    }).join(' ');
    setText('pw-refund', refundText);
    show('pw-refund', !!refundText);

    var link = $('pw-redirect-link');
    if (redirect) {
      link.href = redirect;
      setText('pw-redirect-link', t('return_now'));
    } else {
      link.removeAttribute('href');
    }
    show('pw-redirect', !!redirect);

    // Received / still due, while partly paid.
    show('pw-progress', underpaid);
    setText('pw-paid-label', t('paid_label'));
    setText('pw-paid', str(inv.paid));
    setText('pw-paid-asset', asset);
    setText('pw-remaining-label', t('remaining'));
    setText('pw-remaining', underpaid ? str(inv.remaining) : '');
    setText('pw-remaining-asset', asset);

    // Payment instructions: only while the invoice still takes payments.
    show('pw-pay', payable);
    setText('pw-expires-label', t('expires_in'));
    setText('pw-scan', t('scan_hint'));
    setText('pw-address-label', t('address'));
    setText('pw-address', str(inv.address));
    renderCopyButton('pw-copy-address', 'copy_address_label');
    setText('pw-warning', t('warning', { asset: asset, network: network || asset }));

    renderQr(toPay, asset, payable);
    var addressExplorer = safeHttpUrl(inv.address_explorer_url);
    setLink('pw-address-explorer', 'pw-address-explorer-link', addressExplorer, t('explorer_address'));
    // Once nothing more is to be paid, the address is still there to check.
    setLink('pw-paid-to-explorer', 'pw-paid-to-explorer-link', payable ? null : addressExplorer,
      t('explorer_address'));

    var wallet = $('pw-open-wallet');
    var uri = safeWalletUri(inv.payment_uri);
    if (uri) wallet.href = uri; else wallet.removeAttribute('href');
    wallet.hidden = !uri;
    setText('pw-open-wallet', t('open_wallet'));

    renderTxs();
    tick();
    scheduleRedirect(redirect);
  }

  function scheduleRedirect(url) {
    if (!url || redirectTimer !== null) return;
    redirectTimer = setTimeout(function () {
      location.assign(url);
    }, REDIRECT_DELAY_MS);
  }

  // ---- Copy to clipboard --------------------------------------------------

  function legacyCopy(text) {
    var ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.setAttribute('aria-hidden', 'true');
    ta.className = 'pw-offscreen';
    document.body.appendChild(ta);
    ta.select();
    ta.setSelectionRange(0, text.length);
    var ok = false;
    try {
      ok = document.execCommand('copy');
    } catch (e) {
      ok = false;
    }
    document.body.removeChild(ta);
    return ok;
  }

  async function copyText(text) {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (e) { /* permission refused or not a secure context */ }
    }
    return legacyCopy(text);
  }

  function selectContents(el) {
    var sel = window.getSelection && window.getSelection();
    if (!sel) return;
    var range = document.createRange();
    range.selectNodeContents(el);
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function wireCopy(buttonId, sourceId, labelKey) {
    var timer = null;
    $(buttonId).addEventListener('click', async function () {
      var source = $(sourceId);
      var ok = await copyText(source.textContent);
      if (!ok) selectContents(source);  // let the buyer copy it by hand
      copyFeedback[buttonId] = ok ? 'copied' : 'failed';
      renderCopyButton(buttonId, labelKey);
      clearTimeout(timer);
      timer = setTimeout(function () {
        delete copyFeedback[buttonId];
        renderCopyButton(buttonId, labelKey);
      }, 2000);
    });
  }

  // ---- Live status ------------------------------------------------------

  var wakeUp = null;

  function sleep(ms) {
    return new Promise(function (resolve) {
      var timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        if (wakeUp === done) wakeUp = null;
        resolve();
      }
      wakeUp = done;
    });
  }

  function wake() {
    if (wakeUp) wakeUp();
  }

  function applyInvoice(next) {
    var n = Number(next.now);
    if (isFinite(n) && n > 0) skewMs = n * 1000 - Date.now();
    var changed = !inv || next.version !== inv.version || next.status !== inv.status;
    inv = next;
    notFound = false;
    if (changed) render(); else tick();
    return changed;
  }

  function setOffline(value) {
    if (offline === value) return;
    offline = value;
    show('pw-offline', offline && !FINAL[currentStatus()]);
  }

  async function poll() {
    var failures = 0;
    for (;;) {
      var st = currentStatus();
      if (st === 'not_found' || FINAL[st]) return;
      if (st === 'expired') await sleep(EXPIRED_POLL_MS);

      var url = state.status_url;
      if (inv.version !== undefined && inv.version !== null) url = withParam(url, 'since', str(inv.version));
      url = withParam(url, 'wait', String(POLL_WAIT_S));

      var controller = typeof AbortController === 'function' ? new AbortController() : null;
      var abortTimer = controller ? setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS) : null;
      var started = Date.now();
      try {
        var res = await fetch(url, {
          cache: 'no-store',
          credentials: 'same-origin',
          headers: { Accept: 'application/json' },
          signal: controller ? controller.signal : undefined
        });
        if (res.status === 404) {
          notFound = true;
          setOffline(false);
          render();
          return;
        }
        if (!res.ok) throw new Error('status endpoint answered ' + res.status);
        var body = await res.json();
        if (!isInvoice(body)) throw new Error('status endpoint sent no invoice');
        failures = 0;
        setOffline(false);
        var changed = applyInvoice(body);
        // An endpoint that answers at once with nothing new must not be hammered.
        if (!changed && Date.now() - started < 1000) await sleep(2000);
      } catch (e) {
        failures += 1;
        if (failures >= 2) setOffline(true);
        await sleep(Math.min(10000, 1000 * Math.pow(2, failures - 1)));
      } finally {
        if (abortTimer !== null) clearTimeout(abortTimer);
      }
    }
  }

  // ---- Start ------------------------------------------------------------

  // Keeps a choice in the address bar, so that a reload keeps it too.
  function remember(key, value) {
    try {
      var url = new URL(location.href);
      url.searchParams.set(key, value);
      history.replaceState(history.state, '', url.href);
    } catch (e) { /* the address bar keeps its old value */ }
  }

  function switchLanguage() {
    lang = lang === 'en' ? 'zh' : 'en';
    remember('lang', lang);
    render();
  }

  function switchQr(mode) {
    if (qrMode === mode) return;
    qrMode = mode;
    remember('qr', mode);
    render();
  }

  function start() {
    if (inv) {
      var n = Number(inv.now);
      if (isFinite(n) && n > 0) skewMs = n * 1000 - Date.now();
    }
    var logo = $('pw-logo');
    var logoUrl = state.shop ? safeImageUrl(state.shop.logo_url) : null;
    if (logoUrl) {
      logo.addEventListener('error', function () { logo.hidden = true; });
      logo.src = logoUrl;
      logo.hidden = false;
    }
    $('pw-qr').addEventListener('error', function () { $('pw-qr-box').hidden = true; });
    $('pw-lang').addEventListener('click', switchLanguage);
    $('pw-qr-uri').addEventListener('click', function () { switchQr('uri'); });
    $('pw-qr-address').addEventListener('click', function () { switchQr('address'); });
    wireCopy('pw-copy-address', 'pw-address', 'copy_address_label');
    wireCopy('pw-copy-amount', 'pw-amount', 'copy_amount_label');

    render();
    $('pw-app').hidden = false;
    setInterval(tick, 1000);

    if (inv && typeof state.status_url === 'string' && state.status_url) {
      // A phone that wakes the tab or gets its network back retries at once.
      document.addEventListener('visibilitychange', function () {
        if (document.visibilityState === 'visible') wake();
      });
      window.addEventListener('online', wake);
      poll();
    }
  }

  start();
})();
