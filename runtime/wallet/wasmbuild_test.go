package wallet

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestEnsureWasm builds the wallet's wasm from this checkout, the way `go
// run ./runtime/cmd/plinko local` does from a fresh clone, and checks that an
// unchanged tree reuses the cached build.
func TestEnsureWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the wasm (GOOS=js GOARCH=wasm go build); skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cache := t.TempDir()
	builds := 0
	ensure := func() (string, error) { return EnsureWasmNotify(ctx, cache, func() { builds++ }) }
	p, err := ensure()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x00asm")) {
		t.Fatalf("%s is not WebAssembly", p)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(p), "wasm_exec.js")); err != nil {
		t.Fatal("wasm_exec.js not beside the wasm:", err)
	}
	st1, _ := os.Stat(p)
	p2, err := ensure()
	if err != nil {
		t.Fatal(err)
	}
	if builds != 1 {
		t.Fatalf("%d builds announced for a build and a cache hit, want 1", builds)
	}
	st2, _ := os.Stat(p2)
	if p2 != p || !st2.ModTime().Equal(st1.ModTime()) {
		t.Fatalf("unchanged sources rebuilt the wasm: %s -> %s", p, p2)
	}
	// A damaged cache entry is rebuilt, never served.
	if err := os.WriteFile(p, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	p3, err := ensure()
	if err != nil {
		t.Fatal(err)
	}
	if builds != 2 {
		t.Fatalf("the rebuild of a damaged entry was not announced (%d builds)", builds)
	}
	if b3, _ := os.ReadFile(p3); !bytes.Equal(b3, b) {
		t.Fatalf("truncated cached wasm was not rebuilt (%d bytes, want %d)", len(b3), len(b))
	}
	t.Logf("wasm %s: %d bytes", p, len(b))
}
