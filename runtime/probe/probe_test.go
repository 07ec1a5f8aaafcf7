package probe

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/plinko-pir/plinko/runtime/dataset"
)

func writeHead(t *testing.T, dir string) {
	t.Helper()
	h := &dataset.Head{FormatVersion: dataset.FormatVersion, ChainID: 1337, Epoch: 7, BlockNumber: 7, SnapshotEpoch: 5, OldestDelta: 1}
	if err := dataset.Dir(dir).WriteHead(h); err != nil {
		t.Fatal(err)
	}
}

func TestFresh(t *testing.T) {
	dir := t.TempDir()
	if err := Fresh(dir, time.Minute, time.Now()); err == nil {
		t.Fatal("no head.json accepted")
	}
	writeHead(t, dir)
	if err := Fresh(dir, time.Minute, time.Now()); err != nil {
		t.Fatalf("fresh head refused: %v", err)
	}
	err := Fresh(dir, time.Minute, time.Now().Add(2*time.Minute))
	if !errors.Is(err, ErrStale) {
		t.Fatalf("stale head: want ErrStale, got %v", err)
	}
	t.Log(err)
	if err := os.WriteFile(filepath.Join(dir, dataset.HeadName), []byte(`{"format_version":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Fresh(dir, time.Minute, time.Now()); err == nil || errors.Is(err, ErrStale) {
		t.Fatalf("corrupt head: want a decode error, got %v", err)
	}
}
