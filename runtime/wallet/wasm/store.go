//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"syscall/js"
)

// idbStore is a client.Store in IndexedDB (through worker.js's plinkoStore):
// one record, replaced in one transaction, so a load sees the old or the new
// state and never a mix. The state carries its own sha256 (the client
// verifies it), so a damaged record is refused there and rebuilt.
type idbStore struct {
	key string
}

func (s *idbStore) Load(ctx context.Context) ([]byte, error) {
	v, err := await(ctx, js.Global().Get("plinkoStore").Call("load", s.key))
	if err != nil {
		return nil, fmt.Errorf("reading IndexedDB: %w", err)
	}
	if v.IsNull() || v.IsUndefined() {
		return nil, nil
	}
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b, nil
}

func (s *idbStore) Save(ctx context.Context, state []byte) error {
	u8 := js.Global().Get("Uint8Array").New(len(state))
	js.CopyBytesToJS(u8, state)
	if _, err := await(ctx, js.Global().Get("plinkoStore").Call("save", s.key, u8)); err != nil {
		return fmt.Errorf("writing IndexedDB: %w", err)
	}
	return nil
}

// Remove deletes the saved state.
func (s *idbStore) Remove(ctx context.Context) error {
	if _, err := await(ctx, js.Global().Get("plinkoStore").Call("remove", s.key)); err != nil {
		return fmt.Errorf("deleting from IndexedDB: %w", err)
	}
	return nil
}
