//go:build js && wasm

package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"syscall/js"

	"github.com/plinko-pir/plinko/runtime/client"
	"github.com/plinko-pir/plinko/runtime/client/sealed"
)

// browserKey wraps each state's data key with AES-GCM under a
// non-extractable WebCrypto key that worker.js keeps in IndexedDB next to
// the state (plinkoSeal). Page scripts cannot export it, but its bytes are
// in the browser profile: it protects the IndexedDB values copied alone,
// not the profile.
type browserKey struct{ name string }

var _ sealed.Key = browserKey{}

func (browserKey) Source() sealed.Source    { return sealed.SourceBrowser }
func (browserKey) KDF() (sealed.KDF, error) { return sealed.KDF{}, nil }

// gcmNonce is AES-GCM's 12-byte nonce; random nonces are safe here since
// each key wraps one small data key per save.
const gcmNonce = 12

func (k browserKey) Wrap(ctx context.Context, _ sealed.KDF, dk, aad []byte) ([]byte, error) {
	nonce := make([]byte, gcmNonce)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	v, err := await(ctx, js.Global().Get("plinkoSeal").Call("encrypt", k.name, u8(nonce), u8(dk), u8(aad)))
	if err != nil {
		return nil, fmt.Errorf("wrapping the state key with WebCrypto: %w", err)
	}
	return append(nonce, goBytes(v)...), nil
}

// Unwrap failing means the stored key is gone or another one (site data
// partly cleared): nobody can ever open this state, so it counts as corrupt
// and the client builds fresh hints, unlike a wrong passphrase natively.
func (k browserKey) Unwrap(ctx context.Context, kdf sealed.KDF, wrapped, aad []byte) ([]byte, error) {
	if kdf != (sealed.KDF{}) || len(wrapped) <= gcmNonce {
		return nil, fmt.Errorf("state key not wrapped by this browser: %w", client.ErrCorruptState)
	}
	v, err := await(ctx, js.Global().Get("plinkoSeal").Call("decrypt", k.name, u8(wrapped[:gcmNonce]), u8(wrapped[gcmNonce:]), u8(aad)))
	if err != nil {
		return nil, fmt.Errorf("this browser's stored key does not open the saved state (%v): %w", err, client.ErrCorruptState)
	}
	return goBytes(v), nil
}

// browserKeys seal new state with the passphrase when the page gave one,
// else with the stored key, and open a state with the kind that sealed it.
type browserKeys struct {
	name string
	pass []byte // empty: none given
}

// browserArgon: RFC 9106's memory and passes with one lane (wasm runs on one
// thread, so more lanes would not be faster).
var browserArgon = sealed.Argon2Params{Time: 3, MemoryKiB: 64 << 10, Threads: 1}

func (b browserKeys) Key(_ context.Context, src sealed.Source) (sealed.Key, error) {
	switch {
	case src == sealed.SourcePassphrase && len(b.pass) == 0:
		return nil, sealed.ErrNeedPassphrase
	case src == sealed.SourcePassphrase, src == 0 && len(b.pass) > 0:
		return sealed.NewPassphrase(b.pass, browserArgon)
	}
	return browserKey{name: b.name}, nil // a browser-key state opens with it even when a passphrase is given
}

func u8(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

func goBytes(v js.Value) []byte {
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b
}
