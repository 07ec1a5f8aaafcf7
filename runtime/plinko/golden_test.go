package plinko

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"
)

// The golden tests pin the offset functions' outputs and the hints they
// build for fixed keys, so that an optimisation provably computes the same
// F(a, j) (a saved client state stays valid). A deliberate change of F must
// bump stateVersion and update these digests.

// goldenDigest hashes a sequence of values.
type goldenDigest struct{ b []byte }

func (g *goldenDigest) add(vs ...uint32) {
	for _, v := range vs {
		g.b = binary.LittleEndian.AppendUint32(g.b, v)
	}
}

func (g *goldenDigest) sum() string {
	s := sha256.Sum256(g.b)
	return hex.EncodeToString(s[:8])
}

// TestIPRFGolden pins eval (cached and uncached), half, row, bulk fill and
// preimages of the iPRF at the benchmark size (n = 2^23: BTRS binomials
// below the cached levels) and at a small size (popcount binomials,
// cycle-walking domain).
func TestIPRFGolden(t *testing.T) {
	for _, tc := range []struct {
		n      uint64
		opts   []Option
		blocks []uint32
		want   map[bool]string // backup -> digest
	}{
		{1 << 23, nil, []uint32{0, 1, 513, 1023}, map[bool]string{
			false: "dff4c56999f83d9b", true: "4c1f6f71844cd068",
		}},
		{5000, []Option{WithLambda(37), WithBackups(100)}, []uint32{0, 3, 79}, map[bool]string{
			false: "87c0c666a49c3545", true: "b6492424235fa407",
		}},
	} {
		p, err := NewParams(tc.n, 8, append(tc.opts, WithOffsets(OffsetIPRF))...)
		if err != nil {
			t.Fatal(err)
		}
		master := make([]byte, 32)
		for i := range master {
			master[i] = byte(i)
		}
		pr, err := newPRF(master, &StdKeystream{})
		if err != nil {
			t.Fatal(err)
		}
		for _, backup := range []bool{false, true} {
			f := newIPRF(p, pr, backup, uint32(p.Regular()))
			unc := newIPRF(p, pr, backup, uint32(p.Regular()))
			if backup {
				f = newIPRF(p, pr, backup, uint32(p.Q))
				unc = newIPRF(p, pr, backup, uint32(p.Q))
			}
			unc.cache = nil // the single-AES-call path
			rng := mrand.New(mrand.NewPCG(tc.n, 1))
			var g goldenDigest
			w := uint32(p.W)
			for _, a := range tc.blocks {
				for range 200 {
					j := rng.Uint32N(f.domain)
					v := f.eval(a, j)
					if u := unc.eval(a, j); u != v {
						t.Fatalf("n=%d backup=%v: cached eval %d, uncached %d", tc.n, backup, v, u)
					}
					off, ok := f.half(a, j, v >= w)
					if !ok || off != v%w {
						t.Fatalf("n=%d: half disagrees with eval", tc.n)
					}
					g.add(a, j, v)
				}
				// Bulk fill of the whole block.
				fl, err := f.prepare(a)
				if err != nil {
					t.Fatal(err)
				}
				vals := make([]uint16, f.domain)
				if err := fl.fill(0, vals); err != nil {
					t.Fatal(err)
				}
				h := sha256.New()
				for _, x := range vals {
					x &= uint16(2*w - 1) // higher bits are garbage
					h.Write([]byte{byte(x), byte(x >> 8)})
				}
				g.b = h.Sum(g.b)
				for _, v := range []uint32{0, 1, w - 1, w, 2*w - 1, 77 % (2 * w)} {
					var js []uint32
					if err := f.preimages(a, []uint32{v}, func(j, _ uint32) bool {
						js = append(js, j)
						return true
					}); err != nil {
						t.Fatal(err)
					}
					slices.Sort(js)
					g.add(uint32(len(js)))
					g.add(js...)
				}
			}
			// A row (the query path) for a few hints, both halves.
			offs, ok := make([]uint32, p.C), make([]bool, p.C)
			for _, upper := range []bool{false, true} {
				for range 3 {
					j := rng.Uint32N(f.domain)
					f.row(j, upper, offs, ok)
					for a := range offs {
						if ok[a] {
							g.add(uint32(a), offs[a])
						}
					}
				}
			}
			if got := g.sum(); got != tc.want[backup] {
				t.Errorf("n=%d backup=%v: iPRF digest %s, want %s", tc.n, backup, got, tc.want[backup])
			}
		}
	}
}

// hintGoldens are the hints HintInit builds for a fixed key and database,
// for the iPRF (default) at sizes that use every path: reg digests the
// regular hints' parities, bak the backup hints' (both halves), so that a
// change to one instance's offset function shows in its digest only.
var hintGoldens = []struct {
	n        uint64
	entry    int
	opts     []Option
	reg, bak string
}{
	{1<<16 + 3, 8, nil, "16c75a4d8180ad3e", "aa47ffa7a94dc371"},
	{1<<16 + 3, 16, nil, "f8841a8abaf6f74b", "ee3ba0b6d888dcd1"},
	{1000, 8, []Option{WithBackups(50)}, "af1283431a4f1b32", "a680ea9b29994dc5"},
	{5, 16, []Option{WithBackups(7)}, "fdc638bbd4b99613", "7e751f636eeaed7d"},
	// Small lambda: levels below the cached ones (hint generation
	// samples only their lower half); 9472 hints cycle-walk.
	{5000, 8, []Option{WithLambda(16), WithBackups(100)}, "0c800061d88da414", "fd4134c55e3ace8a"},
	{5000, 16, []Option{WithLambda(37), WithBackups(100)}, "35bc07e4abd33050", "3f20ac82b88b1787"},
	{1 << 18, 8, []Option{WithLambda(8), WithBackups(300)}, "38fc27b1ab2b9568", "54c77e5befd1c95b"},
}

// hintDigest returns the digests of the regular and the backup hints
// HintInit builds.
func hintDigest(t *testing.T, n uint64, entry int, opts []Option, workers int) (reg, bak string) {
	t.Helper()
	p, err := NewParams(n, entry, opts...)
	if err != nil {
		t.Fatal(err)
	}
	db := make([]byte, p.DBSize())
	seeded(77).Read(db[:int(n)*entry])
	cl, err := NewClient(p, seeded(78), WithWorkers(workers))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.HintInit(bytes.NewReader(db), nil); err != nil {
		t.Fatal(err)
	}
	digest := func(ss ...[]uint64) string {
		h := sha256.New()
		for _, s := range ss {
			for _, w := range s {
				h.Write(binary.LittleEndian.AppendUint64(nil, w))
			}
		}
		return hex.EncodeToString(h.Sum(nil)[:8])
	}
	return digest(cl.parity), digest(cl.bl, cl.br)
}

// TestHintsGolden pins the hints HintInit builds.
func TestHintsGolden(t *testing.T) {
	for _, tc := range hintGoldens {
		t.Run(fmt.Sprintf("n=%d/entry=%d", tc.n, tc.entry), func(t *testing.T) {
			reg, bak := hintDigest(t, tc.n, tc.entry, tc.opts, 1)
			if reg != tc.reg {
				t.Errorf("regular hint digest %s, want %s", reg, tc.reg)
			}
			if bak != tc.bak {
				t.Errorf("backup hint digest %s, want %s", bak, tc.bak)
			}
		})
	}
}

// TestHintBucketsOverflow forces the iPRF's hint buckets to overflow
// (tiny capacity), on one and two workers: the early applications must
// build the same hints.
func TestHintBucketsOverflow(t *testing.T) {
	bucketCapForTest = ballRun
	defer func() { bucketCapForTest = 0 }()
	for _, tc := range hintGoldens[:2] {
		for _, workers := range []int{1, 2} {
			if reg, bak := hintDigest(t, tc.n, tc.entry, tc.opts, workers); reg != tc.reg || bak != tc.bak {
				t.Errorf("n=%d entry=%d workers=%d: hint digests %s %s, want %s %s", tc.n, tc.entry, workers, reg, bak, tc.reg, tc.bak)
			}
		}
	}
}
