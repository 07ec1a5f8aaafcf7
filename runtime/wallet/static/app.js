// The wallet page: talks to the worker that runs the Go PIR client (wasm) and
// keeps the page responsive. Nothing about the looked-up address leaves the
// worker except Plinko queries.
'use strict';

const $ = (id) => document.getElementById(id);

// Telemetry of this visit, read by the browser test and shown in the footer.
const telemetry = window.plinkoTelemetry = {
  snapshotBytes: 0,        // snapshot bytes downloaded during this visit
  snapshotTotal: 0,
  hintsMillis: 0,          // time from first snapshot byte to hints ready
  deltasApplied: 0,        // delta files applied during this visit
  loadedFromStorage: false,
  syncs: 0,
  lookups: 0,
};

let worker = null;
let ready = false;
let lookupBusy = false;
let nextID = 1;
const pending = new Map();
let syncTimer = null;
const SYNC_EVERY_MS = 30000;

function setState(s) { document.body.dataset.state = s; }

function fmtBytes(n) {
  if (!isFinite(n)) return '?';
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + ' ' + u[i];
}

function fmtSeconds(s) {
  if (!isFinite(s) || s < 0) return '?';
  if (s < 60) return Math.ceil(s) + ' s';
  return Math.floor(s / 60) + ' min ' + Math.ceil(s % 60) + ' s';
}


const ERROR_HELP = {
  unreachable: ['Server unreachable',
    'Check your connection. If it works, the wallet\'s CDN or PIR server is down; try again in a minute.'],
  checksum: ['Snapshot checksum mismatch',
    'The downloaded snapshot does not match its published sha256, so nothing from it was kept. This is usually a broken proxy or a snapshot replaced mid-download; try again.'],
  storage: ['Browser storage full',
    'The hints (a few MiB) could not be saved in this browser, and every lookup must save its progress before it is sent (so that no hint is ever used twice). Free some disk space or allow storage for this site, then try again.'],
  tab: ['Open in another tab',
    'This wallet is already open in another tab or window of this browser. Two copies would share the same hints, which would let the server link their lookups. Use the other tab, or close it and reload this one.'],
  corrupt: ['Saved hints were damaged',
    'The hints saved in this browser failed verification and were discarded; they will be rebuilt from the snapshot.'],
  server: ['The server answered with an error',
    'The CDN or PIR server reported a problem. Try again in a minute; if it persists, the operator needs to look at it.'],
  chain: ['Another chain',
    'The deployment now publishes another chain than the one this wallet first saw (or was configured for), so nothing from it is used. If the operator really switched chains, press "Forget saved hints" to start over.'],
  incompatible: ['Wallet out of date',
    'The published data uses a format this page does not understand. Reload the page to get the current wallet.'],
  tampered: ['The PIR server returned a wrong answer',
    'One of its answers disagrees with the published snapshot, so the server (or something between it and you) altered it. No balance is shown and nothing from the answer was kept. Do not trust balances from this server; tell its operator.'],
  behind: ['PIR server is behind',
    'The PIR server has not caught up with the newest block yet. Try again in a few seconds.'],
  wasm: ['The wallet code could not start',
    'This browser could not load the WebAssembly client. Use a current browser with WebAssembly and Web Workers enabled, then reload.'],
  config: ['Wallet misconfigured',
    'The wallet server did not return its configuration. Reload in a moment; if it persists, the operator needs to look at it.'],
  passphrase: ['Passphrase needed',
    'The hints saved in this browser are locked with a passphrase. Enter it below, or use \u201cForget saved hints\u201d to start over (the hints are then rebuilt from the snapshot).'],
  input: ['Not an Ethereum address', 'Enter 0x followed by 40 hexadecimal characters.'],
  other: ['Something went wrong', 'Try again. If it persists, reload the page.'],
};

// The service URLs from config.json, to say which server is unreachable.
let services = null;

function showError(kind, message, retry) {
  let [title, action] = ERROR_HELP[kind] || ERROR_HELP.other;
  if (kind === 'unreachable' && services && message) {
    if (message.includes(services.pir + '/v1/')) {
      title = 'PIR server unreachable';
      action = 'The hints are ready, but the server that answers private queries does not respond. Try again in a minute; if it persists, the operator needs to look at it.';
    } else if (message.includes(services.cdn)) {
      title = 'CDN unreachable';
      action = 'The server that publishes the snapshot and block updates does not respond. Check your connection, then try again in a minute.';
    }
  }
  $('error-title').textContent = title;
  $('error-detail').textContent = message || '';
  $('error-action').textContent = action;
  $('error').hidden = false;
  $('error').dataset.kind = kind;
  $('retry').onclick = () => { hideError(); retry(); };
  $('retry').hidden = !retry;
}

function hideError() { $('error').hidden = true; delete $('error').dataset.kind; }

function updateTelemetry() {
  const parts = [];
  if (telemetry.loadedFromStorage) parts.push('hints loaded from this browser');
  parts.push('snapshot downloaded this visit: ' + fmtBytes(telemetry.snapshotBytes));
  if (telemetry.hintsMillis) parts.push('hints built in ' + (telemetry.hintsMillis / 1000).toFixed(1) + ' s');
  parts.push('block updates applied: ' + telemetry.deltasApplied);
  $('telemetry').textContent = parts.join(' \u00b7 ');
}

// shortHash keeps a block hash on one line: the first and last hex digits,
// the whole hash in the element's title.
function shortHash(h) { return h && h.length > 18 ? h.slice(0, 10) + '\u2026' + h.slice(-6) : (h || ''); }

function showStatus(st) {
  if (!st || !st.synced) return;
  const hash = st.blockHash ? ' (' + shortHash(st.blockHash) + ')' : '';
  $('sync-line').textContent = 'Hints at block ' + st.block + hash + ' \u00b7 ' +
    st.queriesLeft + ' private queries left before a background refresh';
  $('sync-line').dataset.block = st.block;
  $('sync-line').dataset.queriesLeft = st.queriesLeft;
}

// Progress bars with rate and ETA.
const meters = {};
function meter(stage, done, total) {
  const now = performance.now();
  let m = meters[stage];
  if (!m || done < m.lastDone) m = meters[stage] = { start: now, startDone: done, lastDone: done, rate: 0, t: now };
  const dt = (now - m.t) / 1000;
  if (dt >= 0.25) {
    const inst = (done - m.lastDone) / dt;
    m.rate = m.rate ? 0.7 * m.rate + 0.3 * inst : inst;
    m.t = now; m.lastDone = done;
  }
  return m;
}

function onProgress(p) {
  const done = Number(p.done), total = Number(p.total);
  if (p.stage === 'download') {
    $('download').hidden = false;
    const m = meter('download', done, total);
    $('download-bar').max = total || 1;
    $('download-bar').value = done;
    const eta = m.rate > 0 ? (total - done) / m.rate : NaN;
    $('download-text').textContent = fmtBytes(done) + ' of ' + fmtBytes(total) +
      (m.rate > 0 ? ' \u00b7 ' + fmtBytes(m.rate) + '/s \u00b7 ' + (done >= total ? 'done' : 'about ' + fmtSeconds(eta) + ' left') : '');
    telemetry.snapshotBytes = Math.max(telemetry.snapshotBytes, done);
    telemetry.snapshotTotal = total;
    $('sync-line').textContent = 'Downloading the public snapshot and building private hints\u2026';
  } else if (p.stage === 'hints') {
    // Hints fold in snapshot bytes as they arrive, so whatever they reached
    // was downloaded (the client reports downloads only about every MiB).
    if (done > telemetry.snapshotBytes) onProgress({ stage: 'download', done, total });
    $('hints').hidden = false;
    const m = meter('hints', done, total);
    $('hints-bar').max = total || 1;
    $('hints-bar').value = done;
    const pct = total ? (100 * done / total).toFixed(0) : '0';
    const eta = m.rate > 0 ? (total - done) / m.rate : NaN;
    $('hints-text').textContent = pct + ' % (' + fmtBytes(done) + ' of ' + fmtBytes(total) + ' of the snapshot folded into hints)' +
      (m.rate > 0 && done < total ? ' \u00b7 about ' + fmtSeconds(eta) + ' left' : '');
  } else if (p.stage === 'deltas') {
    $('deltas').hidden = false;
    $('deltas-bar').max = total || 1;
    $('deltas-bar').value = done;
    $('deltas-text').textContent = done + ' of ' + total + ' blocks';
    if (done < total) $('sync-line').textContent = 'Applying block updates to the hints\u2026';
  }
  updateTelemetry();
}

function request(msg) {
  const id = nextID++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage(Object.assign({ id }, msg));
  });
}

function setLookupEnabled() {
  $('lookup-button').disabled = !ready || lookupBusy;
}

async function sync(first) {
  if (first) {
    setState('syncing');
    $('sync-line').textContent = 'Preparing the private hints\u2026';
  }
  try {
    const r = await request({ op: 'sync' });
    telemetry.syncs++;
    if (r.fromStorage) telemetry.loadedFromStorage = true;
    if (r.hintsMillis) telemetry.hintsMillis = r.hintsMillis;
    telemetry.deltasApplied += r.deltasApplied || 0;
    $('download').hidden = true; $('hints').hidden = true; $('deltas').hidden = true;
    showStatus(r.status);
    updateTelemetry();
    ready = true;
    setLookupEnabled();
    hideError();
    setState('ready');
  } catch (e) {
    if (!ready) {
      setState('error');
    }
    showError(e.kind || 'other', e.message, () => sync(!ready));
    if (e.kind === 'passphrase') askPassphrase('unlock');
  } finally {
    clearTimeout(syncTimer);
    syncTimer = setTimeout(() => sync(false), SYNC_EVERY_MS);
  }
}

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;

async function lookup(ev) {
  ev.preventDefault();
  const address = $('address').value.trim();
  if (!ADDRESS_RE.test(address)) {
    clearResult(); // an old result must not pass for this input's
    $('input-hint').textContent = ERROR_HELP.input[1];
    $('input-hint').classList.add('bad');
    return;
  }
  $('input-hint').classList.remove('bad');
  $('input-hint').textContent = 'Looking up ' + address + ' privately\u2026';
  lookupBusy = true; setLookupEnabled();
  clearResult();
  $('result').dataset.state = 'busy';
  try {
    const r = await request({ op: 'lookup', address });
    telemetry.lookups++;
    const res = r.result;
    telemetry.deltasApplied += r.deltasApplied || 0;
    $('result-address').textContent = address;
    // Exact, as eth_getBalance: ETH (formatted in Go, no floating point) and wei.
    $('balance-eth').textContent = res.eth;
    $('balance-eth').dataset.wei = res.wei;
    $('result').dataset.address = address.toLowerCase();
    $('result').dataset.block = res.block;
    $('result').dataset.found = res.found;
    $('balance-detail').textContent = (res.found ? '' : 'No account: this address has no entry, so it holds nothing. ') +
      'Valid at block ' + res.block + ' (';
    const hash = document.createElement('span');
    hash.className = 'hash';
    hash.title = res.blockHash;
    hash.textContent = shortHash(res.blockHash);
    $('balance-detail').append(hash, ') of chain ' + res.chainId + '; ' + res.wei + ' wei.');
    $('result').hidden = false;
    $('result').dataset.state = 'done';
    $('input-hint').textContent = '';
    showStatus(r.status);
    updateTelemetry();
    hideError();
  } catch (e) {
    $('result').dataset.state = 'error';
    $('input-hint').textContent = '';
    showError(e.kind || 'other', e.message, () => $('lookup-form').requestSubmit());
  } finally {
    lookupBusy = false; setLookupEnabled();
    // A lookup may have caught up with new blocks or refreshed the hints.
    $('download').hidden = true; $('hints').hidden = true; $('deltas').hidden = true;
  }
}

function clearResult() {
  $('result').hidden = true;
  delete $('result').dataset.address;
  delete $('result').dataset.found;
  delete $('result').dataset.state;
  $('result-address').textContent = '';
  $('balance-eth').textContent = '';
  $('balance-detail').textContent = '';
}

async function useWallet() {
  try {
    const accounts = await window.ethereum.request({ method: 'eth_requestAccounts' });
    if (accounts && accounts.length) {
      $('address').value = accounts[0];
      $('input-hint').textContent = 'Address from your wallet extension; it stays in this page.';
    }
  } catch (e) {
    $('input-hint').textContent = 'The wallet extension did not share an account: ' + (e.message || e);
  }
}

async function start() {
  clearTimeout(syncTimer);
  ready = false;
  setLookupEnabled();
  hideError();
  setState('loading');
  $('sync-line').textContent = 'Loading the wallet code\u2026';
  let cfg;
  try {
    const resp = await fetch('config.json', { cache: 'no-store' });
    if (!resp.ok) throw new Error('config.json: HTTP ' + resp.status + ': ' + (await resp.text()).trim());
    cfg = await resp.json();
  } catch (e) {
    setState('error');
    showError(e instanceof TypeError ? 'unreachable' : 'config', String(e.message || e), start);
    return;
  }
  // Relative service URLs (one ingress host) resolve against the page.
  cfg.cdn = new URL(cfg.cdn, location.href).href;
  cfg.pir = new URL(cfg.pir, location.href).href;
  // As the Go client writes them in its errors (no trailing slash).
  services = { cdn: cfg.cdn.replace(/\/+$/, ''), pir: cfg.pir.replace(/\/+$/, '') };
  cfg.wasm = new URL(cfg.wasm, location.href).href;
  cfg.wasmExec = new URL(cfg.wasmExec, location.href).href;
  cfg.passphrase = passphrase;
  if (worker) worker.terminate();
  worker = new Worker('worker.js');
  worker.onmessage = (e) => {
    const m = e.data;
    if (m.ev === 'progress') return onProgress(m);
    if (m.ev === 'phase') { $('sync-line').textContent = m.text; return; }
    if (m.ev === 'notice') { $('notice').textContent = m.text; $('notice').hidden = false; return; }
    if (m.ev === 'crashed') {
      // Nothing will answer the pending requests any more.
      for (const p of pending.values()) p.reject(Object.assign(new Error(m.message), { kind: 'wasm' }));
      pending.clear();
      ready = false; setLookupEnabled(); setState('error');
      showError('wasm', m.message + '; the page restarts it when you try again.', start);
      return;
    }
    if (m.ev === 'reply') {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.error) { const err = new Error(m.error.message); err.kind = m.error.kind; p.reject(err); } else p.resolve(m.value);
    }
  };
  worker.onerror = (e) => {
    setState('error');
    showError('wasm', e.message || 'the worker failed', start);
  };
  try {
    await request({ op: 'init', config: cfg });
  } catch (e) {
    setState('error');
    showError(e.kind || 'wasm', e.message, start);
    return;
  }
  sync(true);
}

$('lookup-form').addEventListener('submit', lookup);
$('address').addEventListener('input', () => {
  $('input-hint').textContent = ''; $('input-hint').classList.remove('bad');
  // The result shown is for the address it names: editing the address
  // takes it away rather than leave it under another address.
  if ($('result').dataset.address && $('address').value.trim().toLowerCase() !== $('result').dataset.address) clearResult();
});
if (window.ethereum && typeof window.ethereum.request === 'function') {
  $('use-wallet').hidden = false;
  $('use-wallet').addEventListener('click', useWallet);
}
$('forget').addEventListener('click', async () => {
  if (!worker) return;
  passphrase = '';
  try { await request({ op: 'forget' }); } catch (e) { /* reported below by the restart */ }
  ready = false; setLookupEnabled();
  start();
});
// The passphrase that seals the saved hints (optional): kept in this page's
// memory only and handed to the worker, which derives the key (argon2id).
let passphrase = '';
function askPassphrase(mode) {
  const form = $('passphrase-form');
  form.dataset.mode = mode;
  $('passphrase-label').textContent = mode === 'lock'
    ? 'New passphrase (the saved hints are deleted and rebuilt under it)'
    : 'Passphrase of the saved hints';
  $('passphrase-button').textContent = mode === 'lock' ? 'Lock' : 'Unlock';
  $('passphrase-box').hidden = false;
  $('passphrase').focus();
}
$('passphrase-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = $('passphrase-form');
  passphrase = $('passphrase').value;
  $('passphrase').value = '';
  $('passphrase-box').hidden = true;
  // Not ready from here until start() has rebuilt or unlocked the hints:
  // a lookup must not go to the worker being replaced.
  ready = false; setLookupEnabled(); setState('loading');
  if (form.dataset.mode === 'lock' && worker) {
    try { await request({ op: 'forget' }); } catch (e) { /* reported by the restart */ }
  }
  start();
});
$('lock').addEventListener('click', () => askPassphrase('lock'));
// Plain HTTP (not localhost): the page works (Go's AES instead of WebCrypto,
// nothing kept between visits, which the worker says) but says that its own
// integrity is not protected.
if (!window.isSecureContext) { $('insecure').hidden = false; $('lock').hidden = true; }
updateTelemetry();
start();
