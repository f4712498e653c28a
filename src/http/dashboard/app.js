// tradebot dashboard: polls the JSON API every 2 s and signs kill-switch
// requests with WebCrypto. Plain script, no dependencies, no build step.
//
// Rules this file keeps:
// - Server data only ever reaches the page through textContent or element
//   attributes set with setAttribute/dataset, never through innerHTML.
// - Amounts are strings and are shown exactly as received (no parseFloat).
// - The kill-switch secret is read from its field once per request, the
//   field is cleared at once, and the secret is neither stored, sent, nor
//   logged: only the HMAC signature leaves the page.
// - No inline scripts or styles, so the page runs under
//   `default-src 'self'; connect-src 'self'; style-src 'self'; script-src 'self'`.
'use strict';

(function () {
  const REFRESH_MS = 2000;
  const TRADES_LIMIT = 20;
  const API = {
    status: '/api/v1/status',
    trades: '/api/v1/trades?limit=' + TRADES_LIMIT,
    killSwitch: '/api/v1/safety/kill-switch',
    killSwitchAction: (action) => '/api/v1/safety/kill-switch/' + action,
  };

  const $ = (id) => document.getElementById(id);

  // Page state.
  let busy = false; // a kill-switch request is in flight
  let ksConfigured = true; // false once the server says it has no secret
  let lastSuccess = null; // Date of the last refresh without errors
  let refreshing = false;
  let timer = null;
  // What each section last showed, so an unchanged section is not rebuilt
  // (rebuilding would drop a selection the operator is making in it).
  const lastRendered = {};

  function changed(section, data) {
    const key = JSON.stringify(data === undefined ? null : data);
    if (lastRendered[section] === key) return false;
    lastRendered[section] = key;
    return true;
  }

  // ---- small DOM helpers (textContent only) --------------------------------

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  // A value as given, or a dash for null/undefined/empty.
  function shown(value) {
    if (value === null || value === undefined || value === '') return '—';
    return String(value);
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function emptyRow(tbody, columns, text) {
    const tr = document.createElement('tr');
    const td = el('td', text, 'muted empty');
    td.colSpan = columns;
    tr.appendChild(td);
    tbody.appendChild(tr);
  }

  function formatUptime(seconds) {
    if (typeof seconds !== 'number' || !isFinite(seconds)) return shown(seconds);
    const s = Math.floor(seconds);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    const parts = [];
    if (d) parts.push(d + 'd');
    if (d || h) parts.push(h + 'h');
    if (d || h || m) parts.push(m + 'm');
    parts.push((s % 60) + 's');
    return parts.join(' ');
  }

  // ---- fetching -------------------------------------------------------------

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // GET a JSON document; rejects with a readable message.
  async function getJson(path) {
    let response;
    try {
      response = await fetch(path, {
        method: 'GET',
        cache: 'no-store',
        credentials: 'same-origin',
        headers: { Accept: 'application/json' },
      });
    } catch (err) {
      throw new Error(path + ': server unreachable (' + (err && err.message ? err.message : String(err)) + ')');
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const detail = data && typeof data.error === 'string' ? data.error : response.statusText;
      throw new HttpError(response.status, path + ': HTTP ' + response.status + (detail ? ' ' + detail : ''));
    }
    if (data === null || typeof data !== 'object') {
      throw new HttpError(response.status, path + ': not a JSON object');
    }
    return data;
  }

  // ---- rendering ------------------------------------------------------------

  function renderStatus(s) {
    const dl = $('status');
    clear(dl);
    const add = (label, value, className) => {
      dl.appendChild(el('dt', label));
      dl.appendChild(el('dd', value, className));
    };
    add('service', shown(s.service) + ' ' + shown(s.version));
    add('mode', shown(s.mode), s.mode === 'live' ? 'mode-live' : 'mode-paper');
    add('exchange', shown(s.exchange));
    add('environment', shown(s.environment), s.environment === 'mainnet' || s.environment === 'production' ? 'mode-live' : '');
    add('symbols', Array.isArray(s.symbols) && s.symbols.length ? s.symbols.join(', ') : '—');
    add('uptime', formatUptime(s.uptime_s));
    add('realized PnL', s.realized_pnl === null || s.realized_pnl === undefined ? 'n/a' : String(s.realized_pnl));
    const t = s.trades;
    add(
      'trades',
      t && typeof t === 'object'
        ? 'filled ' + shown(t.filled) + ' · rejected ' + shown(t.rejected) +
            ' · unknown ' + shown(t.unknown) + ' · skipped ' + shown(t.skipped)
        : 'n/a'
    );
  }

  function renderBalances(balances) {
    const tbody = $('balances').tBodies[0];
    clear(tbody);
    const assets = balances && typeof balances === 'object' ? Object.keys(balances).sort() : [];
    if (!assets.length) {
      emptyRow(tbody, 2, 'No balances');
      return;
    }
    for (const asset of assets) {
      const tr = document.createElement('tr');
      tr.dataset.asset = asset;
      tr.appendChild(el('td', asset));
      tr.appendChild(el('td', shown(balances[asset]), 'num'));
      tbody.appendChild(tr);
    }
  }

  function renderPositions(positions) {
    const tbody = $('positions').tBodies[0];
    clear(tbody);
    if (!Array.isArray(positions) || !positions.length) {
      emptyRow(tbody, 3, 'No open positions');
      return;
    }
    for (const p of positions) {
      const tr = document.createElement('tr');
      tr.dataset.symbol = shown(p.symbol);
      tr.appendChild(el('td', shown(p.symbol)));
      tr.appendChild(el('td', shown(p.quantity), 'num'));
      tr.appendChild(el('td', shown(p.average_cost), 'num'));
      tbody.appendChild(tr);
    }
  }

  // `jq 'select(.correlation_id=="<id>")'`, quoted for a POSIX shell whatever
  // the id holds: a JSON string literal inside single quotes.
  function jqFilter(correlationId) {
    const literal = JSON.stringify(String(correlationId));
    const filter = 'select(.correlation_id==' + literal + ')';
    return "jq '" + filter.replace(/'/g, "'\\''") + "'";
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    // Fallback for pages served over plain http on a non-loopback address.
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand('copy');
    document.body.removeChild(area);
    if (!ok) throw new Error('copy refused');
  }

  function copyButton(text, label) {
    const button = el('button', label, 'copy');
    button.type = 'button';
    button.dataset.copy = text;
    button.title = 'Copy: ' + text;
    return button;
  }

  function renderTrades(trades) {
    const tbody = $('trades').tBodies[0];
    clear(tbody);
    if (!Array.isArray(trades) || !trades.length) {
      emptyRow(tbody, 9, 'No trades yet');
      return;
    }
    // The API lists oldest first; show newest first.
    const newestFirst = trades.slice().reverse();
    for (const t of newestFirst) {
      const tr = document.createElement('tr');
      const cid = t.correlation_id === null || t.correlation_id === undefined ? '' : String(t.correlation_id);
      tr.setAttribute('data-correlation-id', cid);
      if (t.trade_id !== undefined && t.trade_id !== null) tr.setAttribute('data-trade-id', String(t.trade_id));
      tr.appendChild(el('td', shown(t.created_at), 'time'));
      tr.appendChild(el('td', shown(t.trade_id), 'mono wrap'));
      tr.appendChild(el('td', shown(t.symbol)));
      const side = shown(t.side);
      tr.appendChild(el('td', side, side === 'BUY' ? 'side-buy' : side === 'SELL' ? 'side-sell' : ''));
      tr.appendChild(el('td', shown(t.quantity), 'num'));
      tr.appendChild(el('td', shown(t.price), 'num'));
      tr.appendChild(el('td', shown(t.average_price), 'num'));
      const status = shown(t.status);
      tr.appendChild(el('td', status, 'status-' + status.toLowerCase().replace(/[^a-z0-9_-]/g, '')));

      const cell = el('td', null, 'correlation');
      if (cid) {
        const line = el('div', null, 'cid-line');
        line.appendChild(copyButton(cid, 'copy id'));
        line.appendChild(el('code', cid, 'cid selectable'));
        const jq = jqFilter(cid);
        const jqLine = el('div', null, 'cid-line');
        jqLine.appendChild(copyButton(jq, 'copy jq'));
        jqLine.appendChild(el('code', jq, 'jq selectable'));
        cell.appendChild(line);
        cell.appendChild(jqLine);
      } else {
        cell.textContent = '—';
      }
      tr.appendChild(cell);
      tbody.appendChild(tr);
    }
  }

  // The kill switch, from its own endpoint (or the copy inside /status).
  function renderKillSwitch(ks) {
    const state = $('kill-switch-state');
    const configured = $('ks-configured');
    if (!ks || typeof ks !== 'object') {
      state.textContent = 'unknown (no kill-switch state from the server)';
      state.className = 'ks-state ks-unknown';
      return;
    }
    const details = [];
    if (ks.reason !== null && ks.reason !== undefined && ks.reason !== '') details.push('reason: ' + ks.reason);
    if (ks.source) details.push('source: ' + ks.source);
    if (ks.since) details.push('since: ' + ks.since);
    if (ks.request_id) details.push('request: ' + ks.request_id);
    if (ks.durable === false) details.push('NOT durable: lost on restart');
    let text;
    if (ks.active === true) {
      text = 'ACTIVE — no new orders' + (details.length ? ' · ' + details.join(' · ') : '');
      state.className = 'ks-state ks-active';
    } else {
      text = 'inactive' + (details.length ? ' · last change: ' + details.join(' · ') : '');
      state.className = 'ks-state ks-inactive';
    }
    state.textContent = text;
    document.title = (ks.active === true ? 'KILL SWITCH ACTIVE · ' : '') + 'tradebot';
    const notConfigured = ks.configured === false;
    configured.hidden = !notConfigured;
    $('ks-activate').disabled = notConfigured || busy;
    $('ks-deactivate').disabled = notConfigured || busy;
    ksConfigured = !notConfigured;
  }

  // ---- refresh loop ----------------------------------------------------------

  function clock(date) {
    return date.toLocaleTimeString([], { hour12: false });
  }

  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    const [status, trades, killSwitch] = await Promise.allSettled([
      getJson(API.status),
      getJson(API.trades),
      getJson(API.killSwitch),
    ]);
    const errors = [];
    const safely = (what, fn) => {
      try {
        fn();
      } catch (err) {
        delete lastRendered[what]; // draw it again next time
        errors.push(what + ': ' + err.message);
      }
    };

    if (status.status === 'fulfilled') {
      const s = status.value;
      safely('status', () => changed('status', s) && renderStatus(s));
      safely('balances', () => changed('balances', s.balances) && renderBalances(s.balances));
      safely('positions', () => changed('positions', s.positions) && renderPositions(s.positions));
    } else {
      errors.push(status.reason.message);
    }
    if (trades.status === 'fulfilled') {
      const list = trades.value.trades;
      safely('trades', () => changed('trades', list) && renderTrades(list));
    } else {
      errors.push(trades.reason.message);
    }
    if (killSwitch.status === 'fulfilled') {
      safely('kill switch', () => renderKillSwitch(killSwitch.value));
    } else if (status.status === 'fulfilled' && status.value.kill_switch) {
      safely('kill switch', () => renderKillSwitch(status.value.kill_switch));
    } else {
      errors.push(killSwitch.reason.message);
    }

    const now = new Date();
    const updated = $('last-updated');
    if (!errors.length) {
      lastSuccess = now;
      updated.textContent = 'updated ' + clock(now);
      updated.className = 'muted';
      updated.dataset.updatedAt = now.toISOString();
    } else {
      updated.textContent =
        'update failed at ' + clock(now) + ' (' + errors.join('; ') + ')' +
        (lastSuccess ? '; parts may be from ' + clock(lastSuccess) : '');
      updated.className = 'stale';
    }
    refreshing = false;
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      await refresh();
      schedule();
    }, REFRESH_MS);
  }

  // ---- kill switch -----------------------------------------------------------

  function base64(bytes) {
    let binary = '';
    for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary);
  }

  // base64(HMAC-SHA256(secret, `<action>\n<timestamp>\n<body>`)).
  async function sign(secret, action, timestamp, body) {
    const encoder = new TextEncoder();
    const key = await crypto.subtle.importKey(
      'raw',
      encoder.encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign']
    );
    const mac = await crypto.subtle.sign('HMAC', key, encoder.encode(action + '\n' + timestamp + '\n' + body));
    return base64(new Uint8Array(mac));
  }

  function setBusy(value) {
    busy = value;
    $('ks-activate').disabled = value || !ksConfigured;
    $('ks-deactivate').disabled = value || !ksConfigured;
  }

  function showResult(text, kind) {
    const result = $('ks-result');
    result.textContent = text;
    result.className = 'ks-result ' + (kind || '');
  }

  async function killSwitch(action) {
    if (busy) return;
    const secretField = $('ks-secret');
    const reasonField = $('ks-reason');
    const reason = reasonField.value.trim();
    if (!reason) {
      showResult('Enter a reason first: the server records it with the change.', 'error');
      reasonField.focus();
      return;
    }
    // Read the secret once and clear the field straight away, whatever follows.
    let secret = secretField.value;
    secretField.value = '';
    if (!secret) {
      showResult('Enter the kill-switch secret first.', 'error');
      secretField.focus();
      return;
    }
    if (!window.crypto || !crypto.subtle) {
      secret = '';
      showResult(
        'Cannot sign: WebCrypto is unavailable because this page is not a secure context. ' +
          'Open the dashboard through http://localhost or http://127.0.0.1 (e.g. an SSH tunnel) or https.',
        'error'
      );
      return;
    }

    setBusy(true);
    showResult((action === 'activate' ? 'Activating' : 'Deactivating') + '…', 'pending');
    try {
      const body = JSON.stringify({ reason: reason });
      const timestamp = String(Math.floor(Date.now() / 1000));
      let signature;
      try {
        signature = await sign(secret, action, timestamp, body);
      } finally {
        secret = '';
      }
      const response = await fetch(API.killSwitchAction(action), {
        method: 'POST',
        cache: 'no-store',
        credentials: 'same-origin',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json',
          'X-Kill-Switch-Timestamp': timestamp,
          'X-Kill-Switch-Signature': signature,
        },
        body: body,
      });
      const text = await response.text();
      let data = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch (_) {
        data = null;
      }
      const isObject = data !== null && typeof data === 'object';
      if (isObject && typeof data.active === 'boolean') renderKillSwitch(data);
      if (response.ok) {
        const active = isObject && typeof data.active === 'boolean' ? data.active : action === 'activate';
        const parts = [
          (data && data.changed === false ? 'No change (HTTP ' : 'Done (HTTP ') + response.status + '): kill switch is ' +
            (active ? 'ACTIVE' : 'inactive'),
        ];
        if (isObject && data.reason) parts.push('reason: ' + data.reason);
        if (isObject && data.request_id) parts.push('request: ' + data.request_id);
        if (isObject && typeof data.warning === 'string') parts.push('WARNING: ' + data.warning);
        showResult(parts.join(' · '), isObject && data.warning ? 'error' : 'ok');
        reasonField.value = '';
      } else {
        const message = isObject && typeof data.error === 'string' ? data.error : text || response.statusText;
        showResult('Refused (HTTP ' + response.status + '): ' + message, 'error');
      }
    } catch (err) {
      showResult('Request failed: ' + (err && err.message ? err.message : String(err)), 'error');
    } finally {
      setBusy(false);
      refresh().then(schedule);
    }
  }

  // ---- wiring ----------------------------------------------------------------

  function start() {
    $('ks-form').addEventListener('submit', (event) => event.preventDefault());
    $('ks-activate').addEventListener('click', () => killSwitch('activate'));
    $('ks-deactivate').addEventListener('click', () => killSwitch('deactivate'));
    $('trades').addEventListener('click', async (event) => {
      const button = event.target.closest('button.copy');
      if (!button) return;
      const original = button.textContent;
      try {
        await copyText(button.dataset.copy);
        button.textContent = 'copied';
      } catch (_) {
        button.textContent = 'select & copy';
      }
      setTimeout(() => {
        button.textContent = original;
      }, 1200);
    });
    refresh().then(schedule);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
