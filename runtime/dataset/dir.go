package dataset

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Dir is a published dataset directory:
//
//	manifest.json               current snapshot's manifest (short cache)
//	head.json                   newest epoch (short cache)
//	snapshot-<sha256>.bin       snapshots, content-addressed (immutable)
//	deltas/<epoch>.delta        one per epoch, decimal epoch (immutable)
type Dir string

// Published file names.
const (
	ManifestName = "manifest.json"
	HeadName     = "head.json"
	DeltasDir    = "deltas"
)

// ManifestPath is the path of manifest.json.
func (d Dir) ManifestPath() string { return filepath.Join(string(d), ManifestName) }

// HeadPath is the path of head.json.
func (d Dir) HeadPath() string { return filepath.Join(string(d), HeadName) }

// DeltaPath is the path of one epoch's delta file.
func (d Dir) DeltaPath(epoch uint64) string {
	return filepath.Join(string(d), DeltaName(epoch))
}

// DeltaName is the slash-separated name of an epoch's delta relative to the
// directory (also its URL path under the CDN root).
func DeltaName(epoch uint64) string {
	return DeltasDir + "/" + strconv.FormatUint(epoch, 10) + ".delta"
}

// SnapshotName is the content-addressed file name of a snapshot.
func SnapshotName(sum [32]byte) string { return "snapshot-" + hex.EncodeToString(sum[:]) + ".bin" }

// Path resolves a manifest file name inside the directory.
func (d Dir) Path(name string) string { return filepath.Join(string(d), name) }

// ReadManifest loads and validates manifest.json.
func (d Dir) ReadManifest() (*Manifest, error) {
	data, err := os.ReadFile(d.ManifestPath())
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	return DecodeManifest(data)
}

// ReadHead loads and validates head.json.
func (d Dir) ReadHead() (*Head, error) {
	data, err := os.ReadFile(d.HeadPath())
	if err != nil {
		return nil, fmt.Errorf("reading head: %w", err)
	}
	return DecodeHead(data)
}

// ReadSnapshot loads the manifest's snapshot and verifies size and sha256.
func (d Dir) ReadSnapshot(m *Manifest) ([]byte, error) {
	f := m.Snapshot()
	return ReadVerified(d.Path(f.Name), f.Size, f.SHA256)
}

// WriteManifest writes manifest.json atomically.
func (d Dir) WriteManifest(m *Manifest) error {
	b, err := m.Encode()
	if err != nil {
		return err
	}
	return WriteFile(d.ManifestPath(), b)
}

// WriteHead writes head.json atomically.
func (d Dir) WriteHead(h *Head) error {
	b, err := h.Encode()
	if err != nil {
		return err
	}
	return WriteFile(d.HeadPath(), b)
}

// WriteDelta writes an epoch's delta file atomically.
func (d Dir) WriteDelta(delta *Delta) error {
	b, err := delta.MarshalBinary()
	if err != nil {
		return err
	}
	return WriteFile(d.DeltaPath(delta.Epoch), b)
}

// ReadDelta loads and verifies one epoch's delta, checking its epoch.
func (d Dir) ReadDelta(epoch uint64) (*Delta, error) {
	delta, err := ReadDelta(d.DeltaPath(epoch))
	if err != nil {
		return nil, err
	}
	if delta.Epoch != epoch {
		return nil, fmt.Errorf("%w: %s holds epoch %d", ErrCorrupt, d.DeltaPath(epoch), delta.Epoch)
	}
	return delta, nil
}

// DeltaEpochs lists the epochs that have a delta file, ascending.
func (d Dir) DeltaEpochs() ([]uint64, error) {
	ents, err := os.ReadDir(filepath.Join(string(d), DeltasDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing deltas: %w", err)
	}
	var epochs []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".delta")
		if !ok || e.IsDir() {
			continue
		}
		if n, err := strconv.ParseUint(name, 10, 64); err == nil && strconv.FormatUint(n, 10) == name {
			epochs = append(epochs, n)
		}
	}
	slices.Sort(epochs)
	return epochs, nil
}

// WriteSnapshot writes the padded snapshot under its content-addressed name
// and returns its manifest entry. entries is the database; pad is the number
// of zero bytes appended to reach C*W entries.
func (d Dir) WriteSnapshot(entries []byte, pad uint64) (File, error) {
	tmpName := ".snapshot-pending.bin"
	size, sum, err := WriteFileAtomic(d.Path(tmpName), func(w io.Writer) error {
		if _, err := w.Write(entries); err != nil {
			return err
		}
		zero := make([]byte, 64<<10)
		for left := pad; left > 0; {
			n := min(left, uint64(len(zero)))
			if _, err := w.Write(zero[:n]); err != nil {
				return err
			}
			left -= n
		}
		return nil
	})
	if err != nil {
		return File{}, err
	}
	name := SnapshotName(sum)
	if err := os.Rename(d.Path(tmpName), d.Path(name)); err != nil {
		return File{}, fmt.Errorf("naming snapshot: %w", err)
	}
	if err := SyncDir(string(d)); err != nil {
		return File{}, err
	}
	return File{Role: RoleSnapshot, Name: name, Size: uint64(size), SHA256: hex.EncodeToString(sum[:])}, nil
}
