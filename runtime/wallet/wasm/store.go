//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall/js"

	"github.com/plinko-pir/plinko/runtime/client"
)

// idbStore is a client.JournalStore in IndexedDB (through worker.js's
// plinkoStore): the state is one record, replaced (and its journal records
// deleted) in one transaction, so a load sees the old or the new state and
// never a mix; journal records are appended one transaction each. main.go
// wraps it in runtime/client/sealed, so what it stores is sealed; a damaged
// value fails authentication there and the hints are rebuilt.
//
// Browser storage full: the saved state is deleted and the store keeps
// nothing for the rest of this visit (memory only). Nothing consumed can be
// reused after a reload, because nothing is left to reload: the next visit
// builds fresh hints. The page says so (plinkoNotice).
type idbStore struct {
	key     string
	memOnly atomic.Bool
}

// full handles a failed write: on a quota error it deletes the saved state
// and turns to memory only; otherwise (or if the delete fails too) the
// error stands and the lookup is refused.
func (s *idbStore) full(ctx context.Context, err error) error {
	if !errors.Is(err, errQuota) {
		return err
	}
	if rerr := s.Remove(ctx); rerr != nil {
		return fmt.Errorf("%w (and deleting the saved state failed: %v)", err, rerr)
	}
	s.memOnly.Store(true)
	js.Global().Call("plinkoNotice", "Browser storage is full, so the hints are kept only while this page is open; the next visit downloads the snapshot again. Free some disk space to keep them between visits.")
	return nil
}

var _ client.JournalStore = (*idbStore)(nil)

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
	if s.memOnly.Load() {
		return nil
	}
	u8 := js.Global().Get("Uint8Array").New(len(state))
	js.CopyBytesToJS(u8, state)
	if _, err := await(ctx, js.Global().Get("plinkoStore").Call("save", s.key, u8)); err != nil {
		return s.full(ctx, fmt.Errorf("writing IndexedDB: %w", err))
	}
	return nil
}

// Append adds one journal record after the state, in its own transaction
// (a record is stored whole or not at all).
func (s *idbStore) Append(ctx context.Context, rec []byte) error {
	if s.memOnly.Load() {
		return nil
	}
	u8 := js.Global().Get("Uint8Array").New(len(rec))
	js.CopyBytesToJS(u8, rec)
	if _, err := await(ctx, js.Global().Get("plinkoStore").Call("append", s.key, u8)); err != nil {
		return s.full(ctx, fmt.Errorf("appending to IndexedDB: %w", err))
	}
	return nil
}

// Journal returns the records appended since the last Save, in order.
func (s *idbStore) Journal(ctx context.Context) ([][]byte, error) {
	v, err := await(ctx, js.Global().Get("plinkoStore").Call("journal", s.key))
	if err != nil {
		return nil, fmt.Errorf("reading the journal from IndexedDB: %w", err)
	}
	recs := make([][]byte, v.Length())
	for i := range recs {
		u8 := v.Index(i)
		recs[i] = make([]byte, u8.Get("length").Int())
		js.CopyBytesToGo(recs[i], u8)
	}
	return recs, nil
}

// Remove deletes the saved state and its journal.
func (s *idbStore) Remove(ctx context.Context) error {
	if _, err := await(ctx, js.Global().Get("plinkoStore").Call("remove", s.key)); err != nil {
		return fmt.Errorf("deleting from IndexedDB: %w", err)
	}
	return nil
}
