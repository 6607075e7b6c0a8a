/* paywatch hosted checkout page.
 *
 * Reads the page state from the #pw-state JSON block, renders the invoice,
 * keeps it live by long-polling the public status endpoint and, once the
 * payment is confirmed, returns the buyer to the shop. Plain ES2017, no
 * dependencies; every string is set through textContent, never as HTML. */
(function () {
  'use strict';

  // UI strings by id. Merchant overrides in state.text[lang][id] win.
  // {name} placeholders are filled in by t().
  var DICT = {
    en: {
      title: 'Pay {amount} {asset} · {shop}',
      order: 'Order',
      send_exactly: 'Send exactly',
      amount_still_due: 'Still to pay',
      amount_total: 'Amount',
      copy: 'Copy',
      copied: 'Copied',
      copy_failed: 'Copy failed',
      copy_amount_label: 'Copy amount',
      copy_address_label: 'Copy address',
      expires_in: 'Expires in',
      scan_hint: 'Scan with your wallet app',
      qr_alt: 'QR code to pay {amount} {asset}',
      address: 'Send to this address',
      open_wallet: 'Open in wallet',
      warning: 'Send only {asset} on {network} to this address. Other assets or networks will be lost.',
      status_pending: 'Waiting for payment',
      status_underpaid: 'Partly paid — {amount} {asset} still due',
      status_paid: 'Payment received, waiting for confirmation',
      status_confirmed: 'Payment confirmed',
      status_expired: 'This payment request has expired',
      status_paid_late: 'Payment received after expiry — contact the shop',
      status_cancelled: 'This payment request was cancelled',
      not_found: 'Invoice not found',
      status_unknown: 'Payment status: {status}',
      note_pending: 'This page updates by itself as soon as your payment is seen.',
      note_underpaid: 'Send the remaining amount to the same address.',
      note_paid: 'This usually takes a few minutes. You can keep this page open.',
      note_confirmed: 'Thank you. You can close this page.',
      redirecting: 'Returning to the shop…',
      return_now: 'Return to the shop now',
      note_do_not_pay: 'Do not send any payment to this address.',
      note_reserved_until: 'A payment of exactly {amount} {asset} sent before {time} is still recorded for this order; after that the amount may belong to another order.',
      note_paid_late: 'Quote order {order} when you contact the shop.',
      note_not_found: 'Check the payment link, or contact the shop.',
      overpaid: '{amount} {asset} more than due was received.',
      reconnecting: 'Connection lost. Reconnecting…',
      paid_label: 'Received',
      remaining: 'Still due',
      txs_title: 'Transactions received',
      tx_confirmed: 'Confirmed',
      tx_pending: 'Confirming',
      lang_switch_label: 'Language: English. Switch to Chinese',
      powered_by: 'Powered by paywatch',
      load_error: 'This payment page could not be loaded. Reload the page or contact the shop.'
    },
    zh: {
      title: '支付 {amount} {asset} · {shop}',
      order: '订单号',
      send_exactly: '请准确支付',
      amount_still_due: '仍需支付',
      amount_total: '金额',
      copy: '复制',
      copied: '已复制',
      copy_failed: '复制失败',
      copy_amount_label: '复制金额',
      copy_address_label: '复制地址',
      expires_in: '剩余支付时间',
      scan_hint: '请使用钱包 App 扫码付款',
      qr_alt: '支付 {amount} {asset} 的二维码',
      address: '收款地址',
      open_wallet: '在钱包中打开',
      warning: '请仅通过 {network} 网络向此地址发送 {asset}，发送其他资产或使用其他网络将导致资金丢失。',
      status_pending: '等待付款',
      status_underpaid: '已部分付款，仍需支付 {amount} {asset}',
      status_paid: '付款已收到，等待确认',
      status_confirmed: '付款已确认',
      status_expired: '此付款请求已过期',
      status_paid_late: '付款在过期后到账，请联系商家',
      status_cancelled: '此付款请求已取消',
      not_found: '未找到此付款请求',
      status_unknown: '付款状态：{status}',
      note_pending: '检测到您的付款后，此页面会自动更新。',
      note_underpaid: '请向同一地址补足剩余金额。',
      note_paid: '通常需要几分钟，请保持此页面打开。',
      note_confirmed: '感谢您的付款，现在可以关闭此页面。',
      redirecting: '正在返回商家…',
      return_now: '立即返回商家',
      note_do_not_pay: '请勿再向此地址付款。',
      note_reserved_until: '在 {time} 之前付款恰好 {amount} {asset} 仍会记入此订单；此后该金额可能属于其他订单。',
      note_paid_late: '联系商家时请提供订单号 {order}。',
      note_not_found: '请检查付款链接，或联系商家。',
      overpaid: '实收金额超出应付金额 {amount} {asset}。',
      reconnecting: '连接中断，正在重新连接…',
      paid_label: '已收到',
      remaining: '仍需支付',
      txs_title: '已收到的交易',
      tx_confirmed: '已确认',
      tx_pending: '确认中',
      lang_switch_label: '语言：中文。切换为英文',
      powered_by: '由 paywatch 提供支持',
      load_error: '无法加载此付款页面，请刷新页面或联系商家。'
    }
  };

  var PAYABLE = { pending: true, underpaid: true };
  // No further change is expected once an invoice is in one of these.
  var FINAL = { confirmed: true, cancelled: true, paid_late: true };
  var KNOWN = {
    pending: true, underpaid: true, paid: true, confirmed: true,
    expired: true, paid_late: true, cancelled: true
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
  var inv = isInvoice(state.invoice) ? state.invoice : null;
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

  function t(key, vars) {
    var over = state.text && state.text[lang];
    var s;
    if (over && typeof over[key] === 'string') s = over[key];
    else if (Object.prototype.hasOwnProperty.call(DICT[lang], key)) s = DICT[lang][key];
    else s = DICT.en[key] || key;
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
      id.textContent = txid.length > 30 ? txid.slice(0, 14) + '…' + txid.slice(-12) : txid;
      id.title = txid;
      var tag = document.createElement('span');
      tag.className = 'pw-tag ' + (p.confirmed ? 'pw-tag-ok' : 'pw-tag-wait');
      tag.textContent = p.confirmed ? t('tx_confirmed') : t('tx_pending');
      li.appendChild(amount);
      li.appendChild(tag);
      li.appendChild(id);
      list.appendChild(li);
    });
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

    var redirect = st === 'confirmed' ? safeHttpUrl(inv.redirect_url) : null;
    var note = '';
    if (st === 'pending') note = t('note_pending');
    else if (underpaid) note = t('note_underpaid');
    else if (st === 'paid') note = t('note_paid');
    else if (st === 'confirmed') note = redirect ? t('redirecting') : t('note_confirmed');
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
    else if (st === 'not_found') note = t('note_not_found');
    setText('pw-note', note);
    show('pw-note', !!note);

    var excess = (st === 'paid' || st === 'confirmed' || st === 'paid_late') && inv.excess ? str(inv.excess) : '';
    setText('pw-excess', excess ? t('overpaid', { amount: excess, asset: asset }) : '');
    show('pw-excess', !!excess);

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

    var qr = $('pw-qr');
    qr.alt = t('qr_alt', { amount: toPay, asset: asset });
    if (payable && typeof state.qr_url === 'string' && state.qr_url) {
      // The image encodes the payment URI, which changes with the amount
      // still due: a digest of it in the URL makes the browser fetch it anew.
      var src = safeImageUrl(withParam(state.qr_url, 'v', digest(str(inv.payment_uri))));
      if (src && qr.getAttribute('data-src') !== src) {
        qr.setAttribute('data-src', src);
        $('pw-qr-box').hidden = false;
        qr.src = src;
      }
    }

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

  function switchLanguage() {
    lang = lang === 'en' ? 'zh' : 'en';
    try {
      var url = new URL(location.href);
      url.searchParams.set('lang', lang);
      history.replaceState(history.state, '', url.href);
    } catch (e) { /* the address bar keeps its old value */ }
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
