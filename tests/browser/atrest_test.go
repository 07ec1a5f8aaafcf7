package browser

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/common"
)

// storedValue is one IndexedDB value of the wallet, as the page reads it.
type storedValue struct {
	Key         string   `json:"key"`
	CryptoKey   bool     `json:"cryptoKey"`
	Extractable bool     `json:"extractable"`
	Algorithm   string   `json:"algorithm"`
	Magic       string   `json:"magic"`
	Leaks       []string `json:"leaks"`
}

// readStored opens the wallet's IndexedDB from the page (same origin) and
// reports each value: a CryptoKey's properties, or a blob's first 8 bytes
// and which of secrets (hex) its hex contains.
const readStored = `(async (secrets) => {
  const req = (r) => new Promise((res, rej) => { r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  const db = await req(indexedDB.open('plinko-wallet'));
  const s = db.transaction('state').objectStore('state');
  const [keys, vals] = await Promise.all([req(s.getAllKeys()), req(s.getAll())]);
  db.close();
  const hex = (u8) => Array.from(u8, (b) => b.toString(16).padStart(2, '0')).join('');
  return keys.map((k, i) => {
    const v = vals[i];
    if (v instanceof CryptoKey) return { key: String(k), cryptoKey: true, extractable: v.extractable, algorithm: v.algorithm.name };
    const u8 = new Uint8Array(v), h = hex(u8);
    return { key: String(k), magic: String.fromCharCode(...u8.subarray(0, 8)), leaks: secrets.filter((x) => h.includes(x)) };
  });
})(%s)`

// checkSealedAtRest: after lookups, every value the wallet keeps is sealed
// (PLKOSEAL) and holds none of the looked-up addresses; the sealing key is a
// non-extractable AES-GCM CryptoKey. The control: the magic's own bytes are
// searched for too and must be found in every blob (the search works).
func checkSealedAtRest(t *testing.T, tab context.Context, looked []common.Address) {
	t.Helper()
	control := hex.EncodeToString([]byte("PLKOSEAL"))
	secrets := []string{control}
	for _, a := range looked {
		secrets = append(secrets, hex.EncodeToString(a[:]))
	}
	arg, _ := json.Marshal(secrets)
	vals, err := chromedp.Run(tab, chromedp.Evaluate[[]storedValue](fmt.Sprintf(readStored, arg), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("reading IndexedDB: %v", err)
	}
	var keys, blobs int
	for _, v := range vals {
		switch {
		case v.CryptoKey:
			keys++
			if v.Extractable || v.Algorithm != "AES-GCM" || !strings.HasSuffix(v.Key, "#key") {
				t.Errorf("sealing key %+v: want a non-extractable AES-GCM key", v)
			}
		case v.Magic != "PLKOSEAL":
			t.Errorf("%s is not sealed (starts %q)", v.Key, v.Magic)
		case len(v.Leaks) != 1 || v.Leaks[0] != control:
			t.Errorf("%s: search found %v, want only the control %s", v.Key, v.Leaks, control)
		default:
			blobs++
		}
	}
	if keys != 1 || blobs < 2 {
		t.Errorf("IndexedDB holds %d keys and %d sealed blobs; want 1 key, a state and its journal", keys, blobs)
	}
	t.Logf("at rest: %d sealed values and %d non-extractable key", blobs, keys)
}
