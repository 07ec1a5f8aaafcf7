package devnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/node"
)

// markerName is the file in the data dir that records which devnet the chain
// there was built for, so that a restart with another seed or size fails
// clearly instead of serving a chain the caller does not expect.
const markerName = "plinko-devnet.json"

type marker struct {
	Seed     uint64      `json:"seed"`
	Accounts int         `json:"accounts"`
	Genesis  common.Hash `json:"genesis"`
}

// checkDataDir reports whether dataDir already holds this devnet's chain.
// A chain built for another seed or size, or one without a marker, is an error.
func checkDataDir(stack *node.Node, cfg Config, dataDir string) (bool, error) {
	if dataDir == "" {
		return false, nil
	}
	db, err := stack.OpenDatabaseWithOptions("chaindata", node.DatabaseOptions{Cache: 16, Handles: 16, ReadOnly: false})
	if err != nil {
		return false, fmt.Errorf("devnet: opening chain database in %s: %w", dataDir, err)
	}
	genesis := rawdb.ReadCanonicalHash(db, 0)
	if err := db.Close(); err != nil {
		return false, fmt.Errorf("devnet: closing chain database: %w", err)
	}
	if genesis == (common.Hash{}) {
		return false, nil // empty, or a generator run that never finished: (re)build
	}
	blob, err := os.ReadFile(filepath.Join(dataDir, markerName))
	if errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("devnet: %s holds a chain (genesis %s) without %s; use another data dir or remove it", dataDir, genesis, markerName)
	}
	if err != nil {
		return false, fmt.Errorf("devnet: reading %s: %w", markerName, err)
	}
	var m marker
	if err := json.Unmarshal(blob, &m); err != nil {
		return false, fmt.Errorf("devnet: decoding %s: %w", markerName, err)
	}
	if m.Seed != cfg.Seed || m.Accounts != cfg.Accounts || m.Genesis != genesis {
		return false, fmt.Errorf("devnet: %s holds a chain for seed %d with %d accounts (genesis %s), not seed %d with %d accounts",
			dataDir, m.Seed, m.Accounts, m.Genesis, cfg.Seed, cfg.Accounts)
	}
	return true, nil
}

// writeMarker records the devnet a data dir was built for, atomically: temp
// file, fsync, rename, fsync of the directory.
func writeMarker(dataDir string, cfg Config, genesis common.Hash) error {
	blob, err := json.MarshalIndent(marker{Seed: cfg.Seed, Accounts: cfg.Accounts, Genesis: genesis}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dataDir, markerName), append(blob, '\n'))
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("devnet: writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("devnet: writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("devnet: syncing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("devnet: closing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("devnet: renaming into %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("devnet: syncing dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("devnet: syncing dir %s: %w", dir, err)
	}
	return nil
}
