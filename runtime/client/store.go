package client

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/plinko-pir/plinko/runtime/dataset"
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

// A JournalStore also keeps small records appended after the saved state,
// so that a lookup persists a few hundred bytes (the hints it used, the
// backups it promoted) instead of the whole state (MiBs). Each record
// verifies itself and names the state it follows; the client replays them
// in order on load.
type JournalStore interface {
	Store
	// Append adds one record durably after the saved state (or after the
	// records appended since). When it returns nil the record survives a
	// crash; a crash during Append leaves the record out entirely or as a
	// torn tail that Journal drops.
	Append(ctx context.Context, rec []byte) error
	// Journal returns the records appended since the last Save, in order.
	// Save clears them.
	Journal(ctx context.Context) ([][]byte, error)
}

// MemStore is a Store in memory: state lives as long as the process. It is the
// default when Config.Store is nil.
type MemStore struct {
	mu      sync.Mutex
	state   []byte
	journal [][]byte
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
	m.journal = nil
	return nil
}

// Append keeps a copy of rec after the state.
func (m *MemStore) Append(_ context.Context, rec []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.journal = append(m.journal, append([]byte(nil), rec...))
	return nil
}

// Journal returns copies of the records appended since the last Save.
func (m *MemStore) Journal(context.Context) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]byte, len(m.journal))
	for i, r := range m.journal {
		out[i] = append([]byte(nil), r...)
	}
	return out, nil
}

// DirStore keeps the state in one file in a directory, for the command-line
// client. Writes are atomic (temp file in the same directory, fsync, rename,
// fsync of the directory) and the file ends with the sha256 of its content; a
// file that does not verify is refused on Load with ErrCorruptState.
//
// The first use takes an exclusive lock on the directory for the rest of
// the process's life (waiting up to LockWait, then ErrStateInUse): two
// processes sharing the hints would use the same hint for the same index.
type DirStore struct {
	Dir string
	// LockWait is how long to wait for another process to let the
	// directory go (default 10 s).
	LockWait time.Duration

	lockMu sync.Mutex
	locked bool
	lock   *flock.Flock
}

// acquire takes the directory's lock once.
func (d *DirStore) acquire() error {
	d.lockMu.Lock()
	defer d.lockMu.Unlock()
	if d.locked {
		return nil
	}
	wait := d.LockWait
	if wait == 0 {
		wait = 10 * time.Second
	}
	f, err := lockDir(d.Dir, wait)
	if err != nil {
		return err
	}
	d.lock, d.locked = f, true
	return nil
}

// Close lets the directory go (the process exiting does too).
func (d *DirStore) Close() error {
	d.lockMu.Lock()
	defer d.lockMu.Unlock()
	f := d.lock
	d.lock, d.locked = nil, false
	if f == nil {
		return nil
	}
	return f.Close()
}

// stateFile is the name of the state file inside a DirStore's directory;
// journalFile holds the records appended since (length-prefixed frames).
const (
	stateFile   = "client.state"
	journalFile = "client.journal"
	// maxRecord bounds one journal frame (the client compacts long before).
	maxRecord = 64 << 20
)

// NewDirStore returns a DirStore in dir; the directory is created on Save.
func NewDirStore(dir string) *DirStore { return &DirStore{Dir: dir} }

// Path is the state file's path.
func (d *DirStore) Path() string { return filepath.Join(d.Dir, stateFile) }

// Load reads and verifies the state file; a missing file is an empty store.
func (d *DirStore) Load(context.Context) ([]byte, error) {
	if err := d.acquire(); err != nil {
		return nil, err
	}
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
	if err := d.acquire(); err != nil {
		return err
	}
	sum := sha256.Sum256(state)
	buf := make([]byte, 0, len(state)+len(sum))
	buf = append(append(buf, state...), sum[:]...)
	if err := dataset.WriteFilePerm(d.Path(), buf, 0o600); err != nil {
		return fmt.Errorf("saving client state: %w", err)
	}
	// A crash before the old journal is gone leaves records naming the old
	// state: the client skips them (and then saves a whole state again).
	if err := os.Remove(filepath.Join(d.Dir, journalFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the old journal: %w", err)
	}
	return dataset.SyncDir(d.Dir)
}

// Append writes one frame (length, record) at the end of the journal file
// and fsyncs it.
func (d *DirStore) Append(_ context.Context, rec []byte) error {
	if err := d.acquire(); err != nil {
		return err
	}
	if len(rec) > maxRecord {
		return fmt.Errorf("journal record of %d bytes is too large", len(rec))
	}
	path := filepath.Join(d.Dir, journalFile)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening the journal: %w", err)
	}
	frame := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(rec)), uint32(len(rec)))
	if _, err := f.Write(append(frame, rec...)); err != nil {
		f.Close()
		return fmt.Errorf("appending to the journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing the journal: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing the journal: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		return dataset.SyncDir(d.Dir) // the new file's name must survive too
	}
	return nil
}

// Journal reads the journal file's frames. An incomplete last frame is a
// crash during Append (never acknowledged): it is cut off, so that the next
// Append starts on a frame boundary. The records verify themselves (the
// client checks them).
func (d *DirStore) Journal(context.Context) ([][]byte, error) {
	if err := d.acquire(); err != nil {
		return nil, err
	}
	path := filepath.Join(d.Dir, journalFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the journal: %w", err)
	}
	var recs [][]byte
	for len(data) >= 4 {
		n := binary.LittleEndian.Uint32(data)
		if n > maxRecord {
			return nil, fmt.Errorf("journal frame of %d bytes: %w", n, ErrCorruptState)
		}
		if uint64(len(data)-4) < uint64(n) {
			break
		}
		recs = append(recs, data[4:4+n])
		data = data[4+n:]
	}
	if len(data) > 0 {
		if err := truncateTail(path, len(data)); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// truncateTail cuts the last n bytes (a torn frame) off the journal.
func truncateTail(path string, n int) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("cutting a torn journal record: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cutting a torn journal record: %w", err)
	}
	if err := f.Truncate(fi.Size() - int64(n)); err != nil {
		return fmt.Errorf("cutting a torn journal record: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cutting a torn journal record: %w", err)
	}
	return nil
}
