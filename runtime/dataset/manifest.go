// Package dataset defines the files the pipeline publishes and consumes:
// the database (db-gen output), the snapshot and manifest.json (hint-gen),
// head.json and per-epoch delta files (updater). Every file is written
// atomically and verified when loaded. See README.md for the layout.
//
// The package is pure Go without go-ethereum so that the WebAssembly client
// can decode manifests and deltas with the same code.
package dataset

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"regexp"

	"github.com/plinko-pir/plinko/runtime/keyword"
)

// FormatVersion is the version of manifest.json, head.json, the database and
// delta files written by this package. Version 2: entries hold exact wei
// (keyword scheme v2) and every file names its chain id and state root.
const FormatVersion = 2

// ErrFormatVersion means a file was written by another format version: it is
// not damaged, but this binary cannot read it; the dataset must be
// regenerated (db-gen, hint-gen) by this version.
var ErrFormatVersion = errors.New("dataset: file of another format version")

func versionError(what string, v uint64) error {
	return fmt.Errorf("%w: %s has format version %d, this plinko reads only version %d (exact-wei entries, chain id); regenerate the dataset with this version's db-gen and hint-gen (plinko local does it on start)",
		ErrFormatVersion, what, v, FormatVersion)
}

// MaxJSONSize bounds manifest.json and head.json.
const MaxJSONSize = 1 << 20

// Hash is a 32-byte block hash, JSON-encoded as 0x-prefixed hex.
type Hash [32]byte

// MarshalText implements encoding.TextMarshaler.
func (h Hash) MarshalText() ([]byte, error) {
	return []byte("0x" + hex.EncodeToString(h[:])), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 66 || b[0] != '0' || b[1] != 'x' {
		return fmt.Errorf("dataset: hash must be 0x and 64 hex digits")
	}
	if _, err := hex.Decode(h[:], b[2:]); err != nil {
		return fmt.Errorf("dataset: hash: %w", err)
	}
	return nil
}

func (h Hash) String() string { return "0x" + hex.EncodeToString(h[:]) }

// Keyword holds the keyword-table parameters in manifest form.
type Keyword struct {
	Scheme    string `json:"scheme"`
	Seed      string `json:"seed"` // 64 hex digits
	TableSize uint64 `json:"table_size"`
}

// Params converts to keyword.Params, checking the scheme.
func (k Keyword) Params() (keyword.Params, error) {
	if k.Scheme != keyword.Scheme {
		return keyword.Params{}, fmt.Errorf("dataset: keyword scheme %q, want %q", k.Scheme, keyword.Scheme)
	}
	seed, err := keyword.ParseSeed(k.Seed)
	if err != nil {
		return keyword.Params{}, err
	}
	p := keyword.Params{Seed: seed, TableSize: k.TableSize}
	return p, p.Validate()
}

// KeywordOf is the manifest form of keyword parameters.
func KeywordOf(p keyword.Params) Keyword {
	return Keyword{Scheme: keyword.Scheme, Seed: p.SeedHex(), TableSize: p.TableSize}
}

// File describes one published file.
type File struct {
	Role   string `json:"role"` // RoleSnapshot, ...
	Name   string `json:"name"` // relative to the manifest's directory
	Size   uint64 `json:"size"`
	SHA256 string `json:"sha256"` // lower-case hex
}

// RoleSnapshot marks the snapshot file: the database padded to C*W entries.
const RoleSnapshot = "snapshot"

// Manifest describes one snapshot: which chain and block its database holds
// and how it is laid out for the Plinko scheme.
type Manifest struct {
	FormatVersion int     `json:"format_version"`
	ChainID       uint64  `json:"chain_id"` // EIP-155 chain id of the node the database was read from
	Epoch         uint64  `json:"epoch"`
	BlockNumber   uint64  `json:"block_number"`
	BlockHash     Hash    `json:"block_hash"`
	StateRoot     Hash    `json:"state_root"` // that block's state root
	N             uint64  `json:"n"`          // database entries (= keyword table size)
	W             uint64  `json:"w"`          // entries per block, from plinko.NewParams
	C             uint64  `json:"c"`          // blocks
	EntrySize     uint64  `json:"entry_size"`
	Keyword       Keyword `json:"keyword"`
	Files         []File  `json:"files"`
}

var fileNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$`)
var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Validate checks the manifest's internal consistency.
func (m *Manifest) Validate() error {
	if m.FormatVersion != FormatVersion {
		return versionError("manifest", uint64(m.FormatVersion))
	}
	if m.ChainID == 0 {
		return fmt.Errorf("dataset: manifest names no chain id")
	}
	if m.N == 0 || m.W == 0 || m.C == 0 {
		return fmt.Errorf("dataset: manifest n, w and c must be positive")
	}
	if m.EntrySize != keyword.EntrySize {
		return fmt.Errorf("dataset: manifest entry size %d, want %d", m.EntrySize, keyword.EntrySize)
	}
	hi, wc := bits.Mul64(m.W, m.C)
	if hi != 0 || wc < m.N {
		return fmt.Errorf("dataset: manifest w*c does not cover n=%d", m.N)
	}
	hi, bytesLen := bits.Mul64(wc, m.EntrySize)
	if hi != 0 {
		return fmt.Errorf("dataset: manifest w*c*entry_size overflows")
	}
	p, err := m.Keyword.Params()
	if err != nil {
		return err
	}
	if p.TableSize != m.N {
		return fmt.Errorf("dataset: keyword table size %d != n %d", p.TableSize, m.N)
	}
	if m.Epoch < m.BlockNumber {
		return fmt.Errorf("dataset: epoch %d below block number %d", m.Epoch, m.BlockNumber)
	}
	seen := map[string]bool{}
	var snapshot bool
	for _, f := range m.Files {
		if !fileNameRE.MatchString(f.Name) || f.Name == "manifest.json" || f.Name == "head.json" {
			return fmt.Errorf("dataset: manifest file name %q not allowed", f.Name)
		}
		if seen[f.Name] {
			return fmt.Errorf("dataset: manifest lists %q twice", f.Name)
		}
		seen[f.Name] = true
		if !sha256RE.MatchString(f.SHA256) {
			return fmt.Errorf("dataset: manifest file %q: sha256 must be 64 lower-case hex digits", f.Name)
		}
		if f.Role == RoleSnapshot {
			if snapshot {
				return fmt.Errorf("dataset: manifest lists two snapshots")
			}
			snapshot = true
			if f.Size != bytesLen {
				return fmt.Errorf("dataset: snapshot size %d, want w*c*entry_size = %d", f.Size, bytesLen)
			}
		}
	}
	if !snapshot {
		return fmt.Errorf("dataset: manifest lists no snapshot")
	}
	return nil
}

// Snapshot returns the snapshot file entry (Validate guarantees one).
func (m *Manifest) Snapshot() File {
	for _, f := range m.Files {
		if f.Role == RoleSnapshot {
			return f
		}
	}
	return File{}
}

// Encode validates and serialises the manifest.
func (m *Manifest) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DecodeManifest parses and validates manifest.json. One of another format
// version is ErrFormatVersion.
func DecodeManifest(data []byte) (*Manifest, error) {
	if err := checkJSONVersion("manifest", data); err != nil {
		return nil, err
	}
	var m Manifest
	if err := decodeStrictJSON(data, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Head names the newest published epoch and its block.
type Head struct {
	FormatVersion int    `json:"format_version"`
	ChainID       uint64 `json:"chain_id"`
	Epoch         uint64 `json:"epoch"`
	BlockNumber   uint64 `json:"block_number"`
	BlockHash     Hash   `json:"block_hash"`
	// SnapshotEpoch is the epoch of the manifest current when this head was
	// written; a client whose hints are older than the oldest kept delta
	// needs that snapshot.
	SnapshotEpoch uint64 `json:"snapshot_epoch"`
	// OldestDelta is the first epoch whose delta file is still published
	// (SnapshotEpoch+1 or earlier); deltas from OldestDelta to Epoch exist.
	OldestDelta uint64 `json:"oldest_delta"`
}

// Validate checks the head's internal consistency.
func (h *Head) Validate() error {
	if h.FormatVersion != FormatVersion {
		return versionError("head", uint64(h.FormatVersion))
	}
	if h.ChainID == 0 {
		return fmt.Errorf("dataset: head names no chain id")
	}
	if h.SnapshotEpoch > h.Epoch || h.OldestDelta > h.SnapshotEpoch+1 || h.OldestDelta == 0 {
		return fmt.Errorf("dataset: head epochs inconsistent (epoch %d, snapshot %d, oldest delta %d)", h.Epoch, h.SnapshotEpoch, h.OldestDelta)
	}
	return nil
}

// Encode validates and serialises head.json.
func (h *Head) Encode() ([]byte, error) {
	if err := h.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DecodeHead parses and validates head.json.
func DecodeHead(data []byte) (*Head, error) {
	if err := checkJSONVersion("head", data); err != nil {
		return nil, err
	}
	var h Head
	if err := decodeStrictJSON(data, &h); err != nil {
		return nil, fmt.Errorf("%w: head: %v", ErrCorrupt, err)
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	return &h, nil
}

// checkJSONVersion reads only format_version first, so that a file of
// another version gets that error rather than one about its fields.
func checkJSONVersion(what string, data []byte) error {
	var v struct {
		FormatVersion *uint64 `json:"format_version"`
	}
	if len(data) > MaxJSONSize || json.Unmarshal(data, &v) != nil || v.FormatVersion == nil {
		return nil // the strict decode says what is wrong
	}
	if *v.FormatVersion != FormatVersion {
		return versionError(what, *v.FormatVersion)
	}
	return nil
}

func decodeStrictJSON(data []byte, v any) error {
	if len(data) > MaxJSONSize {
		return fmt.Errorf("larger than %d bytes", MaxJSONSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}
