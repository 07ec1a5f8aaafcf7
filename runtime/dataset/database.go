package dataset

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/plinko-pir/plinko/runtime/keyword"
)

// Database file format (db-gen output; private to the pipeline), integers
// little-endian:
//
//	magic       4  "PKDB"
//	version     4  uint32 = FormatVersion
//	chain id    8  EIP-155 chain id of the node it was read from
//	epoch       8
//	block num   8
//	block hash  32
//	state root  32 that block's state root
//	seed        32 keyword seed
//	table size  8  keyword table size = entries
//	entry size  4  uint32 = keyword.EntrySize
//	entries        table size * entry size bytes (the keyword table)
//	sha256      32 of every byte before it
const (
	databaseMagic      = "PKDB"
	databaseHeaderSize = 4 + 4 + 8 + 8 + 8 + 32 + 32 + 32 + 8 + 4
)

// Database is the keyword table at one block.
type Database struct {
	ChainID     uint64
	Epoch       uint64
	BlockNumber uint64
	BlockHash   Hash
	StateRoot   Hash
	Keyword     keyword.Params
	Entries     []byte // Keyword.TableSize * keyword.EntrySize bytes
}

func (db *Database) check() error {
	if db.ChainID == 0 {
		return fmt.Errorf("dataset: database names no chain id")
	}
	if err := db.Keyword.Validate(); err != nil {
		return err
	}
	if uint64(len(db.Entries)) != db.Keyword.TableSize*keyword.EntrySize {
		return fmt.Errorf("dataset: database has %d bytes of entries, want %d", len(db.Entries), db.Keyword.TableSize*keyword.EntrySize)
	}
	return nil
}

func (db *Database) header() []byte {
	h := make([]byte, databaseHeaderSize)
	copy(h, databaseMagic)
	binary.LittleEndian.PutUint32(h[4:], FormatVersion)
	binary.LittleEndian.PutUint64(h[8:], db.ChainID)
	binary.LittleEndian.PutUint64(h[16:], db.Epoch)
	binary.LittleEndian.PutUint64(h[24:], db.BlockNumber)
	copy(h[32:], db.BlockHash[:])
	copy(h[64:], db.StateRoot[:])
	copy(h[96:], db.Keyword.Seed[:])
	binary.LittleEndian.PutUint64(h[128:], db.Keyword.TableSize)
	binary.LittleEndian.PutUint32(h[136:], keyword.EntrySize)
	return h
}

// WriteDatabase writes the database file atomically.
func WriteDatabase(path string, db *Database) error {
	if err := db.check(); err != nil {
		return err
	}
	_, _, err := WriteFileAtomic(path, func(w io.Writer) error {
		h := sha256.New()
		mw := io.MultiWriter(w, h)
		if _, err := mw.Write(db.header()); err != nil {
			return err
		}
		if _, err := mw.Write(db.Entries); err != nil {
			return err
		}
		_, err := w.Write(h.Sum(nil))
		return err
	})
	return err
}

// ReadDatabase loads and verifies a database file.
func ReadDatabase(path string) (*Database, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading database: %w", err)
	}
	db, err := decodeDatabase(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return db, nil
}

func decodeDatabase(r io.Reader, size int64) (*Database, error) {
	// Magic and version first: an older database has a shorter header.
	hdr := make([]byte, databaseHeaderSize)
	if _, err := io.ReadFull(r, hdr[:8]); err != nil || string(hdr[:4]) != databaseMagic {
		return nil, fmt.Errorf("%w: not a database file", ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint32(hdr[4:]); v != FormatVersion {
		return nil, versionError("database", uint64(v))
	}
	if size < databaseHeaderSize+sha256.Size {
		return nil, fmt.Errorf("%w: database has %d bytes, shorter than its header", ErrCorrupt, size)
	}
	if _, err := io.ReadFull(r, hdr[8:]); err != nil {
		return nil, fmt.Errorf("%w: database header: %v", ErrCorrupt, err)
	}
	h := sha256.New()
	h.Write(hdr)
	db := &Database{
		ChainID:     binary.LittleEndian.Uint64(hdr[8:]),
		Epoch:       binary.LittleEndian.Uint64(hdr[16:]),
		BlockNumber: binary.LittleEndian.Uint64(hdr[24:]),
	}
	copy(db.BlockHash[:], hdr[32:64])
	copy(db.StateRoot[:], hdr[64:96])
	copy(db.Keyword.Seed[:], hdr[96:128])
	db.Keyword.TableSize = binary.LittleEndian.Uint64(hdr[128:])
	if db.ChainID == 0 {
		return nil, fmt.Errorf("%w: database names no chain id", ErrCorrupt)
	}
	if es := binary.LittleEndian.Uint32(hdr[136:]); es != keyword.EntrySize {
		return nil, fmt.Errorf("%w: database entry size %d, want %d", ErrCorrupt, es, keyword.EntrySize)
	}
	if err := db.Keyword.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	// Compared by division: a huge table size must not wrap the sum.
	body := uint64(size) - databaseHeaderSize - sha256.Size
	if body%keyword.EntrySize != 0 || body/keyword.EntrySize != db.Keyword.TableSize {
		return nil, fmt.Errorf("%w: database has %d bytes, its header says %d entries of %d", ErrCorrupt, size, db.Keyword.TableSize, keyword.EntrySize)
	}
	db.Entries = make([]byte, db.Keyword.TableSize*keyword.EntrySize)
	if err := readHashed(r, h, db.Entries); err != nil {
		return nil, fmt.Errorf("%w: database entries: %v", ErrCorrupt, err)
	}
	var sum [sha256.Size]byte
	if _, err := io.ReadFull(r, sum[:]); err != nil {
		return nil, fmt.Errorf("%w: database checksum: %v", ErrCorrupt, err)
	}
	if !bytes.Equal(sum[:], h.Sum(nil)) {
		return nil, fmt.Errorf("%w: database sha256 mismatch", ErrCorrupt)
	}
	return db, nil
}

func readHashed(r io.Reader, h hash.Hash, dst []byte) error {
	if _, err := io.ReadFull(r, dst); err != nil {
		return err
	}
	h.Write(dst)
	return nil
}
