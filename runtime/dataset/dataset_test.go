package dataset

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holiman/uint256"

	"github.com/plinko-pir/plinko/runtime/keyword"
)

func sampleDelta() *Delta {
	d := &Delta{ChainID: 1337, Epoch: 101, BlockNumber: 100, EntrySize: 16}
	d.BlockHash[0], d.ParentHash[31], d.StateRoot[5] = 0xaa, 0xbb, 0xcc
	for i := range 5 {
		x := bytes.Repeat([]byte{byte(i + 1)}, 16)
		d.Records = append(d.Records, Record{Index: uint64(i * 7), XOR: x})
	}
	return d
}

func sampleManifest() *Manifest {
	return &Manifest{
		FormatVersion: FormatVersion, ChainID: 1337, Epoch: 7, BlockNumber: 7, BlockHash: Hash{1}, StateRoot: Hash{8},
		N: 192, W: 16, C: 12, EntrySize: keyword.EntrySize,
		Keyword: KeywordOf(keyword.Params{Seed: [32]byte{9}, TableSize: 192}),
		Files: []File{{Role: RoleSnapshot, Name: "snapshot-x.bin", Size: 192 * keyword.EntrySize,
			SHA256: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}},
	}
}

func sampleHead() *Head {
	return &Head{FormatVersion: FormatVersion, ChainID: 1337, Epoch: 9, BlockNumber: 9, BlockHash: Hash{2}, SnapshotEpoch: 7, OldestDelta: 3}
}

func TestDeltaRoundTripAndApply(t *testing.T) {
	d := sampleDelta()
	b, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeDelta(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := got.MarshalBinary()
	if !bytes.Equal(b, b2) || got.ChainID != 1337 || got.Epoch != 101 || got.BlockNumber != 100 || got.BlockHash != d.BlockHash ||
		got.ParentHash != d.ParentHash || got.StateRoot != d.StateRoot || len(got.Records) != 5 {
		t.Fatal("delta round trip changed it")
	}
	db := make([]byte, 29*16)
	if err := got.Apply(db); err != nil {
		t.Fatal(err)
	}
	if db[7*16] != 2 || db[28*16+15] != 5 {
		t.Fatal("apply did not xor")
	}
	if err := got.Apply(db); err != nil || !bytes.Equal(db, make([]byte, len(db))) {
		t.Fatal("applying twice must revert")
	}
	small := make([]byte, 28*16)
	if err := got.Apply(small); err == nil || !bytes.Equal(small, make([]byte, len(small))) {
		t.Fatal("out-of-range delta applied")
	}
}

func TestDeltaRejectsCorruption(t *testing.T) {
	b, _ := sampleDelta().MarshalBinary()
	for n := 0; n < len(b); n++ {
		if _, err := DecodeDelta(b[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x10
		_, err := DecodeDelta(c)
		if version := i >= 4 && i < 8; !errors.Is(err, ErrCorrupt) && !(version && errors.Is(err, ErrFormatVersion)) {
			t.Fatalf("flipped byte %d accepted: %v", i, err)
		}
	}
	if _, err := DecodeDelta(append(bytes.Clone(b), 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatal("extended delta accepted")
	}
}

func TestDeltaMarshalChecks(t *testing.T) {
	d := sampleDelta()
	d.Records[1].Index = 0
	if _, err := d.MarshalBinary(); err == nil {
		t.Fatal("unsorted records accepted")
	}
	d = sampleDelta()
	d.Records[0].XOR = make([]byte, 16)
	if _, err := d.MarshalBinary(); err == nil {
		t.Fatal("zero xor accepted")
	}
	d = sampleDelta()
	d.Records[0].XOR = d.Records[0].XOR[:3]
	if _, err := d.MarshalBinary(); err == nil {
		t.Fatal("short xor accepted")
	}
}

func TestManifestAndHead(t *testing.T) {
	m := sampleManifest()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeManifest(b)
	if err != nil || got.ChainID != 1337 || got.StateRoot != m.StateRoot || got.Snapshot().Name != "snapshot-x.bin" || got.BlockHash != m.BlockHash {
		t.Fatalf("manifest round trip: %v", err)
	}
	if p, err := got.Keyword.Params(); err != nil || p.Seed[0] != 9 {
		t.Fatalf("keyword params: %v", err)
	}
	bad := []func(m *Manifest){
		func(m *Manifest) { m.FormatVersion = 1 },
		func(m *Manifest) { m.ChainID = 0 },
		func(m *Manifest) { m.W = 1 },
		func(m *Manifest) { m.N = 0 },
		func(m *Manifest) { m.EntrySize = 8 },
		func(m *Manifest) { m.Keyword.Scheme = "other" },
		func(m *Manifest) { m.Keyword.TableSize = 195 },
		func(m *Manifest) { m.Files[0].Name = "../etc/passwd" },
		func(m *Manifest) { m.Files[0].SHA256 = "00" },
		func(m *Manifest) { m.Files[0].Size++ },
		func(m *Manifest) { m.Files[0].Role = "other" },
		func(m *Manifest) { m.Files = append(m.Files, m.Files[0]) },
		func(m *Manifest) { m.W, m.C = 1<<63, 4 },
	}
	for i, mutate := range bad {
		m := sampleManifest()
		mutate(m)
		if _, err := m.Encode(); err == nil {
			t.Errorf("bad manifest %d accepted", i)
		}
	}
	for _, s := range []string{"", "{", `{"format_version":1,"extra":1}`, string(b) + "{}"} {
		if _, err := DecodeManifest([]byte(s)); err == nil {
			t.Errorf("manifest %q accepted", s)
		}
	}
	h := sampleHead()
	hb, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeHead(hb); err != nil || *got != *h {
		t.Fatalf("head round trip: %v", err)
	}
	h.SnapshotEpoch = 10
	if _, err := h.Encode(); err == nil {
		t.Fatal("head with snapshot after epoch accepted")
	}
	h = sampleHead()
	h.ChainID = 0
	if _, err := h.Encode(); err == nil {
		t.Fatal("head without chain id accepted")
	}
	if _, err := DecodeHead(hb[:len(hb)-3]); !errors.Is(err, ErrCorrupt) {
		t.Fatal("truncated head accepted")
	}
}

func TestDatabaseFile(t *testing.T) {
	dir := t.TempDir()
	p := keyword.Params{Seed: [32]byte{3}, TableSize: keyword.MinTableSize}
	tab, _ := keyword.NewTable(p)
	if _, err := tab.Insert(keyword.Tag{1, 2, 3}, uint256.NewInt(6789)); err != nil {
		t.Fatal(err)
	}
	db := &Database{ChainID: 1337, Epoch: 5, BlockNumber: 5, BlockHash: Hash{4}, StateRoot: Hash{6}, Keyword: p, Entries: tab.Bytes()}
	path := filepath.Join(dir, "db.bin")
	if err := WriteDatabase(path, db); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDatabase(path)
	if err != nil || got.ChainID != 1337 || got.Epoch != 5 || got.BlockHash != db.BlockHash || got.StateRoot != db.StateRoot ||
		got.Keyword != p || !bytes.Equal(got.Entries, db.Entries) {
		t.Fatalf("database round trip: %v", err)
	}
	raw, _ := os.ReadFile(path)
	for _, c := range [][]byte{raw[:len(raw)-1], raw[:50], append(bytes.Clone(raw), 1), flip(raw, 200), flip(raw, 10), flip(raw, len(raw)-1)} {
		os.WriteFile(path, c, 0o644)
		if _, err := ReadDatabase(path); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("corrupt database (%d bytes) accepted: %v", len(c), err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func TestDirLayout(t *testing.T) {
	d := Dir(t.TempDir())
	f, err := d.WriteSnapshot(bytes.Repeat([]byte{7}, 100), 28)
	if err != nil {
		t.Fatal(err)
	}
	m := sampleManifest()
	m.N, m.W, m.C = keyword.MinTableSize, 16, 12
	f2, err := d.WriteSnapshot(make([]byte, keyword.EntrySize*192), 0)
	if err != nil {
		t.Fatal(err)
	}
	m.Files = []File{f2}
	if err := d.WriteManifest(m); err != nil {
		t.Fatal(err)
	}
	got, err := d.ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := d.ReadSnapshot(got); err != nil || len(snap) != keyword.EntrySize*192 {
		t.Fatalf("snapshot: %v", err)
	}
	os.WriteFile(d.Path(f2.Name), make([]byte, keyword.EntrySize*192-1), 0o644)
	if _, err := d.ReadSnapshot(got); !errors.Is(err, ErrCorrupt) {
		t.Fatal("truncated snapshot accepted")
	}
	os.WriteFile(d.Path(f2.Name), bytes.Repeat([]byte{1}, keyword.EntrySize*192), 0o644)
	if _, err := d.ReadSnapshot(got); !errors.Is(err, ErrCorrupt) {
		t.Fatal("altered snapshot accepted")
	}
	if f.Size != 128 || f.Name != SnapshotName(sha(append(bytes.Repeat([]byte{7}, 100), make([]byte, 28)...))) {
		t.Fatalf("snapshot entry %+v", f)
	}
	for _, e := range []uint64{12, 3, 100} {
		dl := sampleDelta()
		dl.Epoch = e
		if err := d.WriteDelta(dl); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(string(d), DeltasDir, "junk.delta"), nil, 0o644)
	epochs, err := d.DeltaEpochs()
	if err != nil || len(epochs) != 3 || epochs[0] != 3 || epochs[2] != 100 {
		t.Fatalf("epochs %v %v", epochs, err)
	}
	if dl, err := d.ReadDelta(12); err != nil || dl.Epoch != 12 {
		t.Fatalf("read delta: %v", err)
	}
	os.Rename(d.DeltaPath(12), d.DeltaPath(13))
	if _, err := d.ReadDelta(13); !errors.Is(err, ErrCorrupt) {
		t.Fatal("delta under the wrong epoch accepted")
	}
}

func sha(b []byte) [32]byte { return sha256.Sum256(b) }

func FuzzDecodeDelta(f *testing.F) {
	b, _ := sampleDelta().MarshalBinary()
	f.Add(b)
	f.Add(b[:deltaHeaderSize+3])
	empty, _ := (&Delta{ChainID: 1, Epoch: 1, EntrySize: 16}).MarshalBinary()
	f.Add(empty)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := DecodeDelta(data)
		if err != nil {
			return
		}
		again, err := d.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted delta does not re-encode identically: %v", err)
		}
	})
}

// TestOldFormatsRefused: files of format version 1 (gwei entries, no chain
// id) are refused with ErrFormatVersion and a message that says what to do,
// not as corrupt.
func TestOldFormatsRefused(t *testing.T) {
	v1Manifest := `{"format_version": 1, "epoch": 7, "block_number": 7, "block_hash": "0x` + strings.Repeat("00", 32) +
		`", "n": 192, "w": 16, "c": 12, "entry_size": 16, "keyword": {"scheme": "cuckoo3-sha256-v1", "seed": "` + strings.Repeat("00", 32) +
		`", "table_size": 192}, "files": []}`
	v1Head := `{"format_version": 1, "epoch": 9, "block_number": 9, "block_hash": "0x` + strings.Repeat("00", 32) + `", "snapshot_epoch": 7, "oldest_delta": 3}`
	v1Delta := make([]byte, 4+4+8+8+32+32+4+8+32)
	copy(v1Delta, "PKDL")
	binary.LittleEndian.PutUint32(v1Delta[4:], 1)
	v1DB := make([]byte, 4+4+8+8+32+32+8+4+192*16+32)
	copy(v1DB, "PKDB")
	binary.LittleEndian.PutUint32(v1DB[4:], 1)
	path := filepath.Join(t.TempDir(), "db.bin")
	if err := os.WriteFile(path, v1DB, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errM := DecodeManifest([]byte(v1Manifest))
	_, errH := DecodeHead([]byte(v1Head))
	_, errD := DecodeDelta(v1Delta)
	_, errB := ReadDatabase(path)
	for what, err := range map[string]error{"manifest": errM, "head": errH, "delta": errD, "database": errB} {
		if !errors.Is(err, ErrFormatVersion) || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "format version 1") ||
			!strings.Contains(err.Error(), "regenerate") {
			t.Errorf("v1 %s: %v", what, err)
		}
	}
}

// FuzzDecodeDatabase: any bytes either decode to a database that writes
// back to the same bytes, or are refused with an error (never a crash or a
// huge allocation before the size check).
func FuzzDecodeDatabase(f *testing.F) {
	p := keyword.Params{Seed: [32]byte{3}, TableSize: keyword.MinTableSize}
	tab, _ := keyword.NewTable(p)
	tab.Insert(keyword.Tag{9}, uint256.NewInt(1))
	path := filepath.Join(f.TempDir(), "db.bin")
	if err := WriteDatabase(path, &Database{ChainID: 1, Epoch: 2, BlockNumber: 2, Keyword: p, Entries: tab.Bytes()}); err != nil {
		f.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	f.Add(raw)
	f.Add(raw[:databaseHeaderSize])
	f.Add([]byte("PKDB\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := decodeDatabase(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		out := filepath.Join(t.TempDir(), "db.bin")
		if err := WriteDatabase(out, db); err != nil {
			t.Fatalf("accepted database does not write: %v", err)
		}
		if again, _ := os.ReadFile(out); !bytes.Equal(again, data) {
			t.Fatal("accepted database does not write back identically")
		}
	})
}

func FuzzDecodeManifest(f *testing.F) {
	b, _ := sampleManifest().Encode()
	f.Add(b)
	f.Add([]byte(`{"format_version":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest(data)
		if err != nil {
			return
		}
		if _, err := m.Encode(); err != nil {
			t.Fatalf("accepted manifest does not encode: %v", err)
		}
	})
}

func FuzzDecodeHead(f *testing.F) {
	b, _ := sampleHead().Encode()
	f.Add(b)
	f.Add([]byte(`{"epoch":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := DecodeHead(data)
		if err != nil {
			return
		}
		if _, err := h.Encode(); err != nil {
			t.Fatalf("accepted head does not encode: %v", err)
		}
	})
}
