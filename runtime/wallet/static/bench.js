'use strict';
// Runs the worker's selftest (WebCrypto keystream equals Go's AES-CTR) and
// then each requested hint-building benchmark; results go to the page and to
// window.benchResults (read by tests/browser).
(async () => {
  const out = document.getElementById('out');
  const log = (s) => { out.textContent += '\n' + s; };
  out.textContent = '';
  const q = new URLSearchParams(location.search);
  const n = Number(q.get('n') || 1 << 20);
  const runs = q.has('runs') ? q.get('runs').split(',').filter(Boolean) : ['iprf:webcrypto', 'iprf:go'];
  window.benchResults = null;
  try {
    const cfg = await (await fetch('config.json', { cache: 'no-store' })).json();
    for (const k of ['cdn', 'pir', 'wasm', 'wasmExec']) cfg[k] = new URL(cfg[k], location.href).href;
    const worker = new Worker('worker.js');
    let id = 0;
    const pending = new Map();
    worker.onmessage = (e) => {
      const m = e.data;
      if (m.ev !== 'reply') return;
      const p = pending.get(m.id); pending.delete(m.id);
      if (m.error) p.reject(new Error(m.error.kind + ': ' + m.error.message)); else p.resolve(m.value);
    };
    const call = (msg) => new Promise((resolve, reject) => { const i = ++id; pending.set(i, { resolve, reject }); worker.postMessage(Object.assign({ id: i }, msg)); });
    await call({ op: 'init', config: cfg });
    if (q.get('selftest') !== '0') {
      const st = await call({ op: 'selftest' });
      log('selftest: WebCrypto AES-CTR equals Go AES-CTR over ' + st.bytes + ' bytes (' + st.prefetchHits + ' prefetched)');
      window.selftest = st;
    }
    const results = [];
    for (const r of runs) {
      const [offsets, keystream] = r.split(':');
      log('running n=' + n + ' offsets=' + offsets + ' keystream=' + keystream + ' ...');
      const res = await call({ op: 'bench', params: { n, offsets, keystream, entrySize: 16 } });
      results.push(res);
      log(JSON.stringify(res));
    }
    window.benchResults = results;
    document.body.dataset.state = 'ready';
  } catch (e) {
    log('error: ' + (e.message || e));
    window.benchError = String(e.message || e);
    document.body.dataset.state = 'error';
  }
})();
