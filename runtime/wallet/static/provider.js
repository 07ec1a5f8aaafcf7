// An EIP-1193 provider for web pages that answers eth_getBalance by Plinko
// PIR and passes every other request to the provider it wraps (the user's
// wallet, window.ethereum). Load it from a Plinko wallet server:
//
//   import { privateProvider } from 'https://wallet.example/provider.js';
//   const ethereum = await privateProvider(window.ethereum);
//   await ethereum.request({ method: 'eth_getBalance', params: [address, 'latest'] });
//
// Where a local `plinko rpc` answers (options.rpc, default
// http://127.0.0.1:8545, recognised by its plinko_status method), balances
// come from it: one state for every site. Otherwise the Go client runs in
// this page, in a worker: its hints are per site origin (each site
// downloads its own snapshot, the size the wallet page shows on a first
// visit). The wrapped provider never sees the address of an eth_getBalance.
'use strict';

const walletBase = new URL('.', import.meta.url).href;

async function rpcCall(url, method, params) {
  const resp = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = await resp.json();
  if (body.error) throw Object.assign(new Error(body.error.message), { code: body.error.code });
  return body.result;
}

// localRPC is the plinko rpc at url, or null when none answers there (a
// plain node does not know plinko_status, and must not be sent addresses).
async function localRPC(url) {
  try {
    const st = await rpcCall(url, 'plinko_status', []);
    return st && st.private === true ? url : null;
  } catch (e) {
    return null;
  }
}

// inPageClient runs the wallet's worker (the Go client as WebAssembly) in
// this page: a blob worker of this origin that loads the wallet's worker.
async function inPageClient() {
  const cfgResp = await fetch(new URL('config.json', walletBase), { cache: 'no-store' });
  if (!cfgResp.ok) throw new Error('wallet config.json: HTTP ' + cfgResp.status);
  const cfg = await cfgResp.json();
  for (const k of ['cdn', 'pir', 'wasm', 'wasmExec']) cfg[k] = new URL(cfg[k], walletBase).href;
  const workerURL = new URL('worker.js', walletBase).href;
  // On the wallet's own origin the worker loads directly; on another site a
  // worker must be of that site's origin: a blob that loads the wallet's.
  const worker = new URL(workerURL).origin === location.origin ? new Worker(workerURL)
    : new Worker(URL.createObjectURL(new Blob(['importScripts(' + JSON.stringify(workerURL) + ');'], { type: 'text/javascript' })));
  let next = 1;
  const pending = new Map();
  worker.onmessage = (e) => {
    const m = e.data;
    if (m.ev !== 'reply') return;
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(Object.assign(new Error(m.error.message), { kind: m.error.kind })); else p.resolve(m.value);
  };
  const ask = (msg) => new Promise((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject });
    worker.postMessage(Object.assign({ id }, msg));
  });
  await ask({ op: 'init', config: cfg });
  await ask({ op: 'sync' });
  return async (address) => {
    const r = await ask({ op: 'lookup', address });
    return '0x' + BigInt(r.result.wei).toString(16);
  };
}

function rpcError(code, message) { return Object.assign(new Error(message), { code }); }

// privaterpc's answer to a block the hints cannot serve privately.
const UNSERVED = -32011;

export async function privateProvider(inner, options = {}) {
  const rpc = await localRPC(options.rpc || 'http://127.0.0.1:8545');
  let lookup = null; // the in-page client, started on first use
  const balance = async (address, block) => {
    if (block !== undefined && block !== 'latest') {
      throw rpcError(UNSERVED, 'eth_getBalance is answered privately for "latest" only');
    }
    if (rpc) return rpcCall(rpc, 'eth_getBalance', [address, 'latest']);
    if (!lookup) lookup = inPageClient();
    return (await lookup)(address);
  };
  return {
    isPlinko: true,
    via: rpc ? 'plinko rpc at ' + rpc : 'in-page client',
    async request({ method, params }) {
      if (method === 'eth_getBalance') {
        const [address, block] = params || [];
        if (typeof address !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(address)) {
          throw rpcError(-32602, 'eth_getBalance: the first parameter is not an address');
        }
        return balance(address, block);
      }
      return inner.request({ method, params });
    },
    on: (...a) => inner.on && inner.on(...a),
    removeListener: (...a) => inner.removeListener && inner.removeListener(...a),
  };
}
