package local

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plinko-pir/plinko/runtime/dataset"
)

// startIn runs a small local system on free ports with its data in dir.
func startIn(t *testing.T, dir string, console io.Writer) *System {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sys, err := Start(ctx, Config{Data: dir, Accounts: 300, BlockTime: time.Second, SkipWallet: true,
		WalletPort: -1, CDNPort: -1, PIRPort: -1, RPCPort: -1, Console: console})
	if err != nil {
		t.Fatalf("start with --data %s: %v", dir, err)
	}
	return sys
}

// TestRestartWithOldData: a --data written by an older plinko is rebuilt on
// start, not half-reused: a dataset of format version 1 (manifest, head and
// deltas this version cannot read) is replaced by a fresh one of the chain,
// and a dev chain of the older genesis derivation is rebuilt with it. Each
// time the console says so, and the system comes up serving format 2.
func TestRestartWithOldData(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local system three times")
	}
	dir := t.TempDir()
	sys := startIn(t, dir, io.Discard)
	if err := sys.Close(); err != nil {
		t.Fatal(err)
	}

	// An old dataset: version 1 manifest and head, and a version 1 delta.
	public := dataset.Dir(filepath.Join(dir, "public"))
	for _, name := range []string{dataset.ManifestName, dataset.HeadName} {
		raw, err := os.ReadFile(filepath.Join(string(public), name))
		if err != nil {
			t.Fatal(err)
		}
		old := strings.Replace(string(raw), `"format_version": 2`, `"format_version": 1`, 1)
		if err := os.WriteFile(filepath.Join(string(public), name), []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	oldDelta := make([]byte, 4+4+8+8+32+32+4+8+32)
	copy(oldDelta, "PKDL")
	binary.LittleEndian.PutUint32(oldDelta[4:], 1)
	if err := os.MkdirAll(filepath.Join(string(public), dataset.DeltasDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(public.DeltaPath(999999), oldDelta, 0o644); err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	sys = startIn(t, dir, &console)
	checkServing(t, sys, public)
	if !strings.Contains(console.String(), "dataset of an older plinko: rebuilding it") {
		t.Errorf("console did not say the dataset was rebuilt:\n%s", console.String())
	}
	if _, err := os.Stat(public.DeltaPath(999999)); !os.IsNotExist(err) {
		t.Errorf("the old delta is still there: %v", err)
	}
	if err := sys.Close(); err != nil {
		t.Fatal(err)
	}

	// An old chain: its marker names generator version 1.
	marker := filepath.Join(dir, "chain", "plinko-devnet.json")
	raw, err := os.ReadFile(marker)
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(string(raw), `"generator": 2`, `"generator": 1`, 1)
	if old == string(raw) {
		t.Fatalf("marker without the generator version: %s", raw)
	}
	if err := os.WriteFile(marker, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	console.Reset()
	sys = startIn(t, dir, &console)
	defer sys.Close()
	checkServing(t, sys, public)
	if !strings.Contains(console.String(), "dev chain and dataset of an older plinko: rebuilding both") {
		t.Errorf("console did not say the chain was rebuilt:\n%s", console.String())
	}
	if raw, err := os.ReadFile(marker); err != nil || !strings.Contains(string(raw), `"generator": 2`) {
		t.Errorf("the rebuilt chain's marker: %s, %v", raw, err)
	}
}

// checkServing waits for the system and checks it publishes format 2 for
// the dev chain.
func checkServing(t *testing.T, sys *System, public dataset.Dir) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sys.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := public.ReadManifest()
	if err != nil {
		t.Fatalf("manifest after restart: %v", err)
	}
	if m.FormatVersion != dataset.FormatVersion || m.ChainID == 0 || m.StateRoot == (dataset.Hash{}) {
		t.Fatalf("manifest after restart: %+v", m)
	}
}
