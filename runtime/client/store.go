package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Store keeps the client's state (hints, epoch, manifest) between runs. The
// client hands it one opaque blob that verifies itself (sha256 trailer), so a
// Store only has to save and load bytes: a directory for the CLI, IndexedDB
// for the wallet's WebAssembly.
type Store interface {
	// Load returns the saved state, or nil, nil when nothing was saved yet.
	Load(ctx context.Context) ([]byte, error)
	// Save replaces the saved state. It must be atomic: after a crash, Load
	// returns either the old or the new state, never a mix.
	Save(ctx context.Context, state []byte) error
}

// MemStore is a Store in memory: state lives as long as the process. It is the
// default when Config.Store is nil.
type MemStore struct {
	mu    sync.Mutex
	state []byte
}

// Load returns a copy of the last saved state.
func (m *MemStore) Load(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == nil {
		return nil, nil
	}
	return append([]byte(nil), m.state...), nil
}

// Save keeps a copy of state.
func (m *MemStore) Save(_ context.Context, state []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state = append([]byte(nil), state...)
	return nil
}

// DirStore keeps the state in one file in a directory, for the command-line
// client. Writes are atomic (temp file in the same directory, fsync, rename,
// fsync of the directory) and the file ends with the sha256 of its content; a
// file that does not verify is refused on Load with ErrCorruptState.
type DirStore struct {
	Dir string
}

// stateFile is the name of the state file inside a DirStore's directory.
const stateFile = "client.state"

// NewDirStore returns a DirStore in dir; the directory is created on Save.
func NewDirStore(dir string) *DirStore { return &DirStore{Dir: dir} }

// Path is the state file's path.
func (d *DirStore) Path() string { return filepath.Join(d.Dir, stateFile) }

// Load reads and verifies the state file; a missing file is an empty store.
func (d *DirStore) Load(context.Context) ([]byte, error) {
	data, err := os.ReadFile(d.Path())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading client state: %w", err)
	}
	if len(data) < sha256.Size {
		return nil, fmt.Errorf("client state %s is truncated: %w", d.Path(), ErrCorruptState)
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); string(got[:]) != string(sum) {
		return nil, fmt.Errorf("client state %s fails its sha256: %w", d.Path(), ErrCorruptState)
	}
	return body, nil
}

// Save writes the state file (content, then its sha256) atomically.
func (d *DirStore) Save(_ context.Context, state []byte) error {
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	sum := sha256.Sum256(state)
	buf := make([]byte, 0, len(state)+len(sum))
	buf = append(append(buf, state...), sum[:]...)
	return writeAtomic(d.Dir, stateFile, buf)
}

// writeAtomic writes dir/name through a temp file in dir: fsync, rename, fsync dir.
func writeAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("renaming %s into place: %w", name, err)
	}
	if df, err := os.Open(dir); err == nil {
		err = df.Sync()
		df.Close()
		if err != nil {
			return fmt.Errorf("syncing directory %s: %w", dir, err)
		}
	}
	return nil
}
