package dataset

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes path through write: into a temporary file in the
// same directory, fsynced, renamed over path, and the directory fsynced, so a
// reader (or a restart after a crash) sees the old file or the new one, never
// a part. It returns the size and sha256 of what was written. The file is
// world-readable (0644): published data.
func WriteFileAtomic(path string, write func(w io.Writer) error) (size int64, sum [32]byte, err error) {
	return writeFileAtomic(path, 0o644, write)
}

func writeFileAtomic(path string, perm os.FileMode, write func(w io.Writer) error) (size int64, sum [32]byte, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, sum, fmt.Errorf("creating directory for %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, sum, fmt.Errorf("creating temporary file for %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	if err = write(bw); err != nil {
		return 0, sum, fmt.Errorf("writing %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return 0, sum, fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Chmod(perm); err != nil {
		return 0, sum, fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return 0, sum, fmt.Errorf("syncing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return 0, sum, fmt.Errorf("closing %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return 0, sum, fmt.Errorf("renaming into %s: %w", path, err)
	}
	if err = SyncDir(dir); err != nil {
		return 0, sum, err
	}
	copy(sum[:], h.Sum(nil))
	return cw.n, sum, nil
}

// WriteFile writes data to path atomically (see WriteFileAtomic).
func WriteFile(path string, data []byte) error { return WriteFilePerm(path, data, 0o644) }

// WriteFilePerm is WriteFile with the file's permissions (0600 for a
// client's state, which holds its secret key).
func WriteFilePerm(path string, data []byte, perm os.FileMode) error {
	_, _, err := writeFileAtomic(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	return err
}

// SyncDir fsyncs a directory, so that the names created, renamed or removed
// in it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s to sync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ErrCorrupt marks a file that is truncated, has a wrong checksum or does not
// parse; nothing from it is applied.
var ErrCorrupt = errors.New("dataset: corrupt or truncated file")

// ReadVerified reads a whole file and checks it has the given size and
// sha256 (hex), as listed in a manifest.
func ReadVerified(path string, size uint64, sha256Hex string) ([]byte, error) {
	want, err := hex.DecodeString(sha256Hex)
	if err != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("dataset: bad sha256 %q for %s", sha256Hex, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if uint64(st.Size()) != size {
		return nil, fmt.Errorf("%w: %s has %d bytes, want %d", ErrCorrupt, path, st.Size(), size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v", ErrCorrupt, path, err)
	}
	got := sha256.Sum256(data)
	if hex.EncodeToString(got[:]) != hex.EncodeToString(want) {
		return nil, fmt.Errorf("%w: %s sha256 mismatch", ErrCorrupt, path)
	}
	return data, nil
}
