package snapshot

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holiman/uint256"

	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/keyword"
	"github.com/plinko-pir/plinko/runtime/plinko"
)

func testDB(t *testing.T, epoch uint64, accounts int) *dataset.Database {
	t.Helper()
	m, _ := keyword.TableSizeFor(uint64(accounts), keyword.DefaultLoad)
	p := keyword.Params{Seed: [32]byte{byte(epoch)}, TableSize: m}
	var acc []keyword.Account
	for i := range accounts {
		acc = append(acc, keyword.Account{Key: keyword.KeyOf([20]byte{byte(i), byte(i >> 8), byte(epoch)}), Balance: *uint256.NewInt(uint64(i + 1))})
	}
	tab, err := keyword.Build(p, acc)
	if err != nil {
		t.Fatal(err)
	}
	return &dataset.Database{ChainID: 1337, Epoch: epoch, BlockNumber: epoch, BlockHash: dataset.Hash{byte(epoch)},
		StateRoot: dataset.Hash{0xee, byte(epoch)}, Keyword: p, Entries: tab.Bytes()}
}

func TestLayout(t *testing.T) {
	for _, n := range []uint64{1, 2, 192, 1000, 1179, 1 << 20, 9868953} {
		w, c, err := Layout(n)
		p, perr := plinko.NewParams(n, keyword.EntrySize)
		if err != nil || perr != nil || w*c < n || w != uint64(p.W) || c != uint64(p.C) {
			t.Errorf("Layout(%d) = %d, %d, %v", n, w, c, err)
		}
	}
	if _, _, err := Layout(0); err == nil {
		t.Error("empty layout accepted")
	}
}

func TestHintGen(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	out := filepath.Join(tmp, "public")
	dir := dataset.Dir(out)
	var names []string
	for i, epoch := range []uint64{10, 20, 30} {
		db := testDB(t, epoch, 500+i)
		path := filepath.Join(tmp, "db.bin")
		if err := dataset.WriteDatabase(path, db); err != nil {
			t.Fatal(err)
		}
		if _, err := Run(ctx, Config{Database: path, Out: out}); err != nil {
			t.Fatal(err)
		}
		m, err := dir.ReadManifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.Epoch != epoch || m.N != db.Keyword.TableSize || m.BlockHash != db.BlockHash || m.ChainID != 1337 || m.StateRoot != db.StateRoot {
			t.Fatalf("manifest %+v", m)
		}
		if p, _ := m.Keyword.Params(); p != db.Keyword {
			t.Fatal("manifest keyword parameters differ from the database's")
		}
		snap, err := dir.ReadSnapshot(m)
		if err != nil {
			t.Fatal(err)
		}
		n := len(db.Entries)
		if uint64(len(snap)) != m.W*m.C*keyword.EntrySize || !bytes.Equal(snap[:n], db.Entries) || !bytes.Equal(snap[n:], make([]byte, len(snap)-n)) {
			t.Fatal("snapshot is not the database padded with zero entries")
		}
		h, err := dir.ReadHead()
		if err != nil || h.ChainID != 1337 || h.Epoch != epoch || h.SnapshotEpoch != epoch || h.OldestDelta != epoch+1 {
			t.Fatalf("head %+v, %v", h, err)
		}
		names = append(names, m.Snapshot().Name)
	}
	// The previous snapshot stays for clients mid-download, older ones go.
	for i, name := range names {
		_, err := os.Stat(dir.Path(name))
		if (i == 0) != errors.Is(err, os.ErrNotExist) {
			t.Fatalf("snapshot %d: stat %v", i, err)
		}
	}

	// A newer head (an updater's) is never moved back by a snapshot.
	h := &dataset.Head{FormatVersion: dataset.FormatVersion, ChainID: 1337, Epoch: 50, BlockNumber: 50, SnapshotEpoch: 30, OldestDelta: 31}
	if err := dir.WriteHead(h); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(dir, testDB(t, 40, 100)); err != nil {
		t.Fatal(err)
	}
	if got, _ := dir.ReadHead(); got.Epoch != 50 {
		t.Fatalf("head moved back to %d", got.Epoch)
	}

	// A database of another chain is refused: clients pin the chain id.
	other := testDB(t, 60, 100)
	other.ChainID = 1
	if _, err := Write(dir, other); err == nil || !strings.Contains(err.Error(), "chain 1337") {
		t.Fatalf("database of another chain: %v", err)
	}

	// A corrupt database publishes nothing.
	before, _ := os.ReadFile(dir.ManifestPath())
	path := filepath.Join(tmp, "db.bin")
	raw, _ := os.ReadFile(path)
	raw[len(raw)/2] ^= 1
	os.WriteFile(path, raw, 0o644)
	if _, err := Run(ctx, Config{Database: path, Out: out}); !errors.Is(err, dataset.ErrCorrupt) {
		t.Fatalf("corrupt database: %v", err)
	}
	if after, _ := os.ReadFile(dir.ManifestPath()); !bytes.Equal(before, after) {
		t.Fatal("manifest changed after a refused database")
	}
}
