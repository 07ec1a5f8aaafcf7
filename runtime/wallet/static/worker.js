// The wallet's Web Worker: runs the Go PIR client (runtime/client compiled to
// WebAssembly) off the page's thread, and gives it the two browser services it
// needs: IndexedDB for its sealed state, a WebCrypto AES-GCM key that seals
// it, and WebCrypto AES-CTR for bulk keystream.
'use strict';

let api = null;          // set by the Go side through plinkoReady
let apiReady = null;     // promise of api

// Progress from Go, throttled to about 10 messages a second per stage.
const lastProgress = {};
self.plinkoProgress = (stage, done, total) => {
  const now = performance.now();
  if (done < total && lastProgress[stage] && now - lastProgress[stage] < 100) return;
  lastProgress[stage] = now;
  postMessage({ ev: 'progress', stage, done, total });
};
self.plinkoPhase = (text) => postMessage({ ev: 'phase', text });
self.plinkoNotice = (text) => postMessage({ ev: 'notice', text });

// IndexedDB: one object store, one record per deployment (keyed by CDN URL).
// A put commits in one transaction, so a reader sees the old or the new state,
// never a mix; 'strict' durability waits until it is on disk.
const DB_NAME = 'plinko-wallet', STORE = 'state';
let dbPromise = null;
function openDB() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => { dbPromise = null; reject(storageError(req.error, 'opening IndexedDB')); };
      req.onblocked = () => reject(new Error('IndexedDB is blocked by another tab of this wallet; close it and reload'));
    });
  }
  return dbPromise;
}
function storageError(err, what) {
  const e = new Error(what + ': ' + (err ? err.name + ': ' + err.message : 'unknown error'));
  e.quota = !!err && err.name === 'QuotaExceededError';
  return e;
}
function tx(mode, fn) {
  return openDB().then((db) => new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode, { durability: 'strict' });
    let result;
    fn(t.objectStore(STORE), (v) => { result = v; });
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(storageError(t.error, 'IndexedDB ' + mode));
    t.onabort = () => reject(storageError(t.error, 'IndexedDB ' + mode + ' aborted'));
  }));
}
// The journal (small records appended after the state, so that a lookup
// does not rewrite MiBs): keys key#j#0000000000, key#j#0000000001, ... in the
// same store; a save replaces the state and deletes them in one transaction.
const journalRange = (key) => IDBKeyRange.bound(key + '#j#', key + '#j#\uffff');
// One tab at a time: two tabs holding the same hints would use the same
// hint for the same address, letting the server link their lookups. The
// worker takes an exclusive Web Lock per deployment before touching the
// state and holds it until it ends (the browser releases it when the tab
// closes or reloads; the wait covers a reload's old worker still ending).
// Without Web Locks (like WebCrypto, only in a secure context) nothing is
// persisted at all (plinkoPersistent): the Go side keeps memory only.
const stateLocks = new Map();
const LOCK_WAIT_MS = 5000;
function holdStateLock(key) {
  if (!self.navigator || !navigator.locks) return Promise.reject(new Error('no Web Locks: the wallet keeps nothing'));
  if (!stateLocks.has(key)) {
    stateLocks.set(key, new Promise((resolve, reject) => {
      navigator.locks.request('plinko-state:' + key, { signal: AbortSignal.timeout(LOCK_WAIT_MS) }, () => {
        resolve();
        return new Promise(() => {}); // held for the worker's lifetime
      }).catch(() => {
        stateLocks.delete(key); // ask again on the next try
        const e = new Error('this wallet is open in another tab or window of this browser');
        e.tab = true;
        reject(e);
      });
    }));
  }
  return stateLocks.get(key);
}
const locked = (fn) => (key, ...args) => holdStateLock(key).then(() => fn(key, ...args));
self.plinkoStore = {
  load: (key) => tx('readonly', (s, set) => {
    const r = s.get(key);
    r.onsuccess = () => set(r.result instanceof ArrayBuffer ? new Uint8Array(r.result) : (r.result || null));
  }),
  // bytes is a fresh Uint8Array the Go side made for us; store its buffer.
  save: (key, bytes) => tx('readwrite', (s) => { s.put(bytes.buffer, key); s.delete(journalRange(key)); }),
  append: (key, bytes) => tx('readwrite', (s) => {
    const n = s.count(journalRange(key));
    n.onsuccess = () => s.put(bytes.buffer, key + '#j#' + String(n.result).padStart(10, '0'));
  }),
  journal: (key) => tx('readonly', (s, set) => {
    const r = s.getAll(journalRange(key));
    r.onsuccess = () => set(r.result.map((b) => new Uint8Array(b)));
  }),
  remove: (key) => {
    sealKeys.delete(key);
    return tx('readwrite', (s) => { s.delete(key); s.delete(journalRange(key)); s.delete(key + '#key'); });
  },
};
for (const op of Object.keys(self.plinkoStore)) self.plinkoStore[op] = locked(self.plinkoStore[op]);

// Persist only with both WebCrypto (to seal) and Web Locks (one tab).
self.plinkoPersistent = !!(self.crypto && crypto.subtle && self.navigator && navigator.locks);

// The sealing key: AES-GCM 256, non-extractable, made on first use and kept
// in IndexedDB beside the state (key#key). Page scripts cannot export it,
// but it is in the browser profile like the state. The Go side wraps each
// state's random data key with it (runtime/client/sealed, sealkey.go).
const sealKeys = new Map();
function sealKey(key) {
  if (!sealKeys.has(key)) {
    sealKeys.set(key, holdStateLock(key).then(async () => {
      let k = await tx('readonly', (s, set) => {
        const r = s.get(key + '#key');
        r.onsuccess = () => set(r.result || null);
      });
      if (!(k instanceof CryptoKey)) {
        k = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
        // Storage full: the key serves this visit from memory; the state's
        // save fails too (memory only), or, saved, is not opened next time
        // and hints are rebuilt. Nothing unsealed is written either way.
        await tx('readwrite', (s) => { s.put(k, key + '#key'); }).catch(() => {});
      }
      return k;
    }).catch((e) => { sealKeys.delete(key); throw e; }));
  }
  return sealKeys.get(key);
}
const gcm = (iv, aad) => ({ name: 'AES-GCM', iv, additionalData: aad });
self.plinkoSeal = {
  encrypt: async (key, iv, data, aad) => new Uint8Array(await crypto.subtle.encrypt(gcm(iv, aad), await sealKey(key), data)),
  decrypt: async (key, iv, data, aad) => new Uint8Array(await crypto.subtle.decrypt(gcm(iv, aad), await sealKey(key), data)),
};

// WebCrypto AES-CTR keystream, byte for byte what Go's cipher.NewCTR over a
// zero buffer gives: the whole 16-byte counter block increments big-endian
// (length 128).
let zeros = new Uint8Array(0);
self.plinkoAES = {
  importKey: (raw) => crypto.subtle.importKey('raw', raw, { name: 'AES-CTR' }, false, ['encrypt']),
  keystream: async (key, counter, n) => {
    if (zeros.length < n) zeros = new Uint8Array(n);
    const out = await crypto.subtle.encrypt({ name: 'AES-CTR', counter, length: 128 }, key, zeros.subarray(0, n));
    return new Uint8Array(out);
  },
};

self.plinkoReady = (goAPI) => { api = goAPI; };

async function init(cfg) {
  if (typeof WebAssembly !== 'object') throw Object.assign(new Error('this browser has no WebAssembly'), { kind: 'wasm' });
  // Without a secure context (plain HTTP) crypto.subtle is missing: the Go
  // side then uses its own AES (same bytes, slower); getRandomValues exists.
  if (!self.crypto || !crypto.getRandomValues) throw Object.assign(new Error('this browser has no crypto.getRandomValues'), { kind: 'wasm' });
  postMessage({ ev: 'phase', text: 'Loading the wallet code\u2026' });
  importScripts(cfg.wasmExec);
  const go = new Go();
  let exitCode = null;
  const exit = go.exit;
  go.exit = (code) => { exitCode = code; exit(code); };
  let instance;
  try {
    const resp = fetch(cfg.wasm);
    try {
      instance = (await WebAssembly.instantiateStreaming(resp, go.importObject)).instance;
    } catch (e) {
      // A proxy may have changed the MIME type; compile from bytes instead.
      const r = await fetch(cfg.wasm);
      if (!r.ok) throw new Error('HTTP ' + r.status);
      instance = (await WebAssembly.instantiate(await r.arrayBuffer(), go.importObject)).instance;
    }
  } catch (e) {
    throw Object.assign(new Error('loading ' + cfg.wasm + ': ' + (e.message || e)), { kind: e instanceof TypeError ? 'unreachable' : 'wasm' });
  }
  go.run(instance).then(() => postMessage({ ev: 'crashed', message: 'the wallet code stopped (exit code ' + exitCode + ')' }));
  if (!api) throw Object.assign(new Error('the wallet code did not start'), { kind: 'wasm' });
  await api.init(JSON.stringify({ cdn: cfg.cdn, pir: cfg.pir, passphrase: cfg.passphrase || '', chainId: cfg.chainId || 0 }));
}

function errorOf(e) {
  if (e && typeof e === 'object' && 'kind' in e) return { kind: String(e.kind), message: String(e.message) };
  return { kind: 'other', message: String(e && e.message || e) };
}

self.onmessage = async (e) => {
  const { id, op } = e.data;
  try {
    let value;
    if (op === 'init') {
      if (!apiReady) apiReady = init(e.data.config);
      await apiReady;
    } else {
      await apiReady;
      if (op === 'sync') value = JSON.parse(await api.sync());
      else if (op === 'lookup') value = JSON.parse(await api.lookup(String(e.data.address)));
      else if (op === 'forget') value = await api.forget();
      else if (op === 'selftest') value = JSON.parse(await api.selftest());
      else if (op === 'bench') value = JSON.parse(await api.bench(JSON.stringify(e.data.params)));
      else throw new Error('unknown operation ' + op);
    }
    postMessage({ ev: 'reply', id, value });
  } catch (err) {
    postMessage({ ev: 'reply', id, error: errorOf(err) });
  }
};
