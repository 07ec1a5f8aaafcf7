// The provider demo: a dapp page that wraps the provider it finds
// (window.ethereum, or a stand-in that records what it is asked) with
// provider.js and calls request({method: 'eth_getBalance'}).
import { privateProvider } from './provider.js';

const $ = (id) => document.getElementById(id);
const asked = window.innerRequests = [];
const wallet = window.ethereum || {
  request: async ({ method }) => {
    if (method === 'eth_chainId') return '0x539';
    throw new Error('this stand-in wallet answers eth_chainId only');
  },
};
// What the wrapped provider is asked, so the page can show it never saw the
// address of a balance lookup.
const inner = { request: (a) => { asked.push(JSON.stringify(a)); return wallet.request(a); } };

const eth = await privateProvider(inner, { rpc: new URLSearchParams(location.search).get('rpc') || undefined });
window.dappProvider = eth;
$('via').textContent = 'Balances via ' + eth.via + '.';
$('go').disabled = false;
$('form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('out').textContent = 'looking up privately…';
  try {
    const wei = await eth.request({ method: 'eth_getBalance', params: [$('address').value.trim(), 'latest'] });
    $('out').textContent = BigInt(wei).toString() + ' wei';
    $('out').dataset.wei = wei;
  } catch (e) {
    $('out').textContent = 'error: ' + e.message;
  }
  $('seen').textContent = 'Your wallet was asked: ' + (asked.length ? asked.join(', ') : 'nothing');
});
