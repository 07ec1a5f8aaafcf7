// Package snapshot lays a database out for clients (the hint-gen job): the
// keyword table padded with zero entries to C*W entries, written under its
// content-addressed name, then manifest.json and head.json, each atomically
// and in that order, so a reader that sees a manifest always finds its
// snapshot.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/keyword"
)

// Config of one hint-gen run.
type Config struct {
	Database string // database file written by db-gen
	Out      string // published directory
	Logger   *slog.Logger
}

// Run loads and verifies the database and publishes its snapshot.
func Run(ctx context.Context, cfg Config) (*dataset.Manifest, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	db, err := dataset.ReadDatabase(cfg.Database)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	entries := db.Keyword.TableSize
	// Two steps, each one pass over the data: say how far after each (the
	// fields match db-gen's progress lines).
	step := func(name string, done int, bytes int64, since time.Time) {
		el := max(time.Since(since).Seconds(), 1e-9)
		log.Info("hint-gen progress", "step", name, "steps_done", done, "steps_total", 2, "percent", 50*float64(done),
			"entries", entries, "bytes", bytes, "bytes_per_s", float64(bytes)/el, "seconds", time.Since(start).Seconds(),
			"epoch", db.Epoch, "block", db.BlockNumber)
	}
	step("read and verified the database", 1, int64(len(db.Entries)), start)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	wrote := time.Now()
	m, err := Write(dataset.Dir(cfg.Out), db)
	if err != nil {
		return nil, err
	}
	step("wrote snapshot, manifest and head", 2, int64(m.Snapshot().Size), wrote)
	log.Info("hint-gen wrote snapshot", "dir", cfg.Out, "epoch", m.Epoch, "block", m.BlockNumber,
		"n", m.N, "w", m.W, "c", m.C, "snapshot", m.Snapshot().Name, "bytes", m.Snapshot().Size,
		"seconds", time.Since(start).Seconds())
	return m, nil
}

// Write publishes db as the current snapshot of dir: snapshot file, then
// manifest.json, then head.json (only if head.json is missing or older
// than the snapshot, so it never moves an updater's head backwards).
// Snapshot files other than the new one and the previous manifest's are
// removed.
func Write(dir dataset.Dir, db *dataset.Database) (*dataset.Manifest, error) {
	n := db.Keyword.TableSize
	if uint64(len(db.Entries)) != n*keyword.EntrySize {
		return nil, fmt.Errorf("snapshot: database has %d bytes for %d entries", len(db.Entries), n)
	}
	w, c, err := Layout(n)
	if err != nil {
		return nil, err
	}
	var previous string
	if old, err := dir.ReadManifest(); err == nil {
		// Clients pin the chain they first saw: one directory never
		// switches chains under them.
		if old.ChainID != db.ChainID {
			return nil, fmt.Errorf("snapshot: %s publishes chain %d; refusing a database of chain %d (use another directory)", dir, old.ChainID, db.ChainID)
		}
		previous = old.Snapshot().Name
	}
	f, err := dir.WriteSnapshot(db.Entries, (w*c-n)*keyword.EntrySize)
	if err != nil {
		return nil, fmt.Errorf("snapshot: writing snapshot: %w", err)
	}
	m := &dataset.Manifest{
		FormatVersion: dataset.FormatVersion,
		ChainID:       db.ChainID,
		Epoch:         db.Epoch,
		BlockNumber:   db.BlockNumber,
		BlockHash:     db.BlockHash,
		StateRoot:     db.StateRoot,
		N:             n, W: w, C: c,
		EntrySize: keyword.EntrySize,
		Keyword:   dataset.KeywordOf(db.Keyword),
		Files:     []dataset.File{f},
	}
	if err := dir.WriteManifest(m); err != nil {
		return nil, fmt.Errorf("snapshot: writing manifest: %w", err)
	}
	head, err := dir.ReadHead()
	if err != nil || head.Epoch < m.Epoch {
		h := &dataset.Head{FormatVersion: dataset.FormatVersion, ChainID: m.ChainID, Epoch: m.Epoch, BlockNumber: m.BlockNumber,
			BlockHash: m.BlockHash, SnapshotEpoch: m.Epoch, OldestDelta: m.Epoch + 1}
		if err := dir.WriteHead(h); err != nil {
			return nil, fmt.Errorf("snapshot: writing head: %w", err)
		}
	}
	if err := prune(dir, f.Name, previous); err != nil {
		return nil, err
	}
	return m, nil
}

// prune removes snapshot files that neither the current nor the previous
// manifest names (clients may still be downloading the previous one).
func prune(dir dataset.Dir, keep ...string) error {
	ents, err := os.ReadDir(string(dir))
	if err != nil {
		return fmt.Errorf("snapshot: listing %s: %w", dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "snapshot-") || !strings.HasSuffix(name, ".bin") || e.IsDir() {
			continue
		}
		kept := false
		for _, k := range keep {
			kept = kept || k == name
		}
		if kept {
			continue
		}
		if err := os.Remove(filepath.Join(string(dir), name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("snapshot: removing old %s: %w", name, err)
		}
	}
	return nil
}
