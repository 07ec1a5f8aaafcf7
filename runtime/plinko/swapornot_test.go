package plinko

import (
	"encoding/binary"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"testing"
)

func testPRF(t testing.TB) *prf {
	master := make([]byte, 32)
	for i := range master {
		master[i] = byte(i)
	}
	pr, err := newPRF(master, &StdKeystream{})
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// TestSRPermutation: forward and inverse are inverse bijections on whole
// domains (powers of two and not), the bulk inverse agrees, and the
// table-free AES path computes the same values.
func TestSRPermutation(t *testing.T) {
	pr := testPRF(t)
	for _, n := range []uint32{1, 2, 3, 5, 7, 16, 100, 257, 1000, 4096} {
		s := newSR(pr, tagSRBak, n, srSecurity)
		for a := uint32(0); a < 3; a++ {
			tb, err := s.tables(a)
			if err != nil {
				t.Fatal(err)
			}
			seen := make([]bool, n)
			inv := make([]uint32, n)
			tb.invertAll(inv)
			for x := range n {
				y := tb.perm(x)
				if y >= n || seen[y] {
					t.Fatalf("n=%d a=%d: P(%d) = %d repeats or leaves the domain", n, a, x, y)
				}
				seen[y] = true
				if got := tb.inv(y); got != x {
					t.Fatalf("n=%d a=%d: P^-1(P(%d)) = %d", n, a, x, got)
				}
				if inv[y] != x {
					t.Fatalf("n=%d a=%d: bulk P^-1(%d) = %d, want %d", n, a, y, inv[y], x)
				}
			}
			for _, x := range []uint32{0, n / 3, n - 1} {
				if got, want := s.permAES(a, x), tb.perm(x); got != want {
					t.Fatalf("n=%d: AES path P(%d) = %d, tables %d", n, x, got, want)
				}
				if got := s.invAES(a, tb.perm(x)); got != x {
					t.Fatalf("n=%d: AES path P^-1(P(%d)) = %d", n, x, got)
				}
			}
		}
	}
}

// TestSRRounds writes down the round counts the bound gives and checks
// that the levels' bounds sum to at most 2^-64 per block.
func TestSRRounds(t *testing.T) {
	for _, n := range []uint32{1 << 12, 1 << 16, 1 << 20, 4736, 1 << 10} {
		s := newSR(nil, 0, n, srSecurity)
		sum := 0.0
		expect := 0.0 // expected rounds of one walk: level l is reached with probability ~2^-l
		reach := 1.0
		for _, l := range s.levels {
			if l.rounds > 0 {
				sum += math.Exp2(srBoundLog2(l.n, l.rounds))
			}
			expect += reach * float64(l.rounds)
			reach *= float64(l.n/2) / float64(l.n)
		}
		t.Logf("N=%d: levels %d, rounds at level 0..3: %d %d %d %d, all levels %d, expected per walk %.0f, bound 2^%.2f",
			n, len(s.levels), s.levels[0].rounds, s.levels[min(1, len(s.levels)-1)].rounds,
			s.levels[min(2, len(s.levels)-1)].rounds, s.levels[min(3, len(s.levels)-1)].rounds,
			s.totalRounds(), expect, math.Log2(sum))
		if math.Log2(sum) > -srSecurity {
			t.Errorf("N=%d: bound 2^%.2f above 2^-%d", n, math.Log2(sum), srSecurity)
		}
	}
	// Swap-or-not alone at q = N: the bound is at least 2N^1.5/(r+2) > 1 for
	// every r, so it proves nothing (hence Sometimes-Recurse).
	if b := srBoundFull(1<<20, 10000); b < 0 {
		t.Errorf("full-codebook swap-or-not bound 2^%.1f", b)
	}
}

// srBoundFull is the same bound with q = N.
func srBoundFull(n uint32, r int) float64 {
	N := float64(n)
	return 1 + 1.5*math.Log2(N) - math.Log2(float64(r)+2)
}

// TestSRUniform is a sanity check, not the argument: over many blocks
// (independent keys) P_a(x) = y is about equally likely for every x, y.
func TestSRUniform(t *testing.T) {
	pr := testPRF(t)
	const n, blocks = 10, 4000
	s := newSR(pr, tagSRReg, n, srSecurity)
	var cnt [n][n]int
	for a := range uint32(blocks) {
		tb, err := s.tables(a)
		if err != nil {
			t.Fatal(err)
		}
		for x := range uint32(n) {
			cnt[x][tb.perm(x)]++
		}
	}
	exp := float64(blocks) / n
	chi := 0.0
	for x := range n {
		for y := range n {
			d := float64(cnt[x][y]) - exp
			chi += d * d / exp
		}
	}
	// 81 degrees of freedom: mean 81, sd 12.7; 150 is 5 sd out.
	if chi > 150 {
		t.Errorf("chi-square %.1f over %d cells", chi, n*n)
	}
	t.Logf("chi-square %.1f (81 degrees of freedom)", chi)
}

// TestFeistelRoundTrip: each instance's PRP (regularRounds for the
// regular hints, backupRounds for the backups) is a bijection of whole
// domains, powers of two and cycle-walking ones, whose inverse, table-free
// path, bulk inverse (whole domain and in odd-sized runs) and row agree
// with it.
func TestFeistelRoundTrip(t *testing.T) {
	p, err := NewParams(1<<16, 8)
	if err != nil {
		t.Fatal(err)
	}
	pr := testPRF(t)
	for _, tc := range []struct {
		backup  bool
		rounds  int
		domains []uint32
	}{
		{false, regularRounds, []uint32{2368, 5000, 1 << 12, 1 << 16}},
		{true, backupRounds, []uint32{1, 2, 7, 100, 4095, 1 << 12, 1 << 16}},
	} {
		for _, n := range tc.domains {
			f := newIPRF(p, pr, tc.backup, n)
			if f.rounds != tc.rounds {
				t.Fatalf("backup=%v: %d rounds, want %d", tc.backup, f.rounds, tc.rounds)
			}
			for _, a := range []uint32{0, uint32(p.C - 1)} {
				bc := f.blockCacheFor(a)
				if bc == nil || len(bc.tab) != tc.rounds {
					t.Fatalf("backup=%v N=%d: block cache missing or without %d round tables", tc.backup, n, tc.rounds)
				}
				g, err := f.prepareBulk(a, false)
				if err != nil {
					t.Fatal(err)
				}
				if len(g.tab.g)*roundGroup != tc.rounds {
					t.Fatalf("backup=%v: %d packed round groups", tc.backup, len(g.tab.g))
				}
				bulk := make([]uint32, n)
				g.invert(0, bulk)
				runs := make([]uint32, n)
				for lo := uint32(0); lo < n; lo += 13 {
					g.invert(lo, runs[lo:min(n, lo+13)])
				}
				seen := make([]bool, n)
				for x := range n {
					y := f.perm(a, x, bc)
					if y >= n || seen[y] {
						t.Fatalf("backup=%v N=%d a=%d: P(%d) = %d repeats or leaves the domain", tc.backup, n, a, x, y)
					}
					seen[y] = true
					if got := f.permInv(a, y, bc); got != x {
						t.Fatalf("backup=%v N=%d a=%d: P^-1(P(%d)) = %d", tc.backup, n, a, x, got)
					}
					if bulk[y] != x || runs[y] != x {
						t.Fatalf("backup=%v N=%d a=%d: bulk P^-1(%d) = %d (in runs %d), want %d", tc.backup, n, a, y, bulk[y], runs[y], x)
					}
					if x%61 == 0 {
						if got := f.perm(a, x, nil); got != y {
							t.Fatalf("backup=%v N=%d: table-free P(%d) = %d, want %d", tc.backup, n, x, got, y)
						}
						if got := f.permInv(a, y, nil); got != x {
							t.Fatalf("backup=%v N=%d: table-free P^-1(%d) = %d, want %d", tc.backup, n, y, got, x)
						}
					}
				}
			}
			// The row (rowLanes blocks interleaved) against half, block by
			// block.
			offs, ok := make([]uint32, p.C), make([]bool, p.C)
			for _, j := range []uint32{0, n / 2, n - 1} {
				for _, upper := range []bool{false, true} {
					f.row(j, upper, offs, ok)
					for a := range uint32(p.C) {
						off, in := f.half(a, j, upper)
						if in != ok[a] || in && off != offs[a] {
							t.Fatalf("backup=%v N=%d: row at block %d hint %d: %d %v, half %d %v", tc.backup, n, a, j, offs[a], ok[a], off, in)
						}
					}
				}
			}
		}
	}
}

// TestFeistelLayout checks both instances against the keystream layout
// as keystream.go documents it (round r's function at z is 32-bit LE word
// r*stride+z of the instance's PRP stream, backupRounds rounds for the
// backups), with a reference Feistel written from that description, and
// that the backups' extra rounds change the permutation.
func TestFeistelLayout(t *testing.T) {
	p, err := NewParams(1<<16, 8)
	if err != nil {
		t.Fatal(err)
	}
	pr := testPRF(t)
	const n = 1 << 12 // halves of 6 bits, no cycle-walking
	for _, backup := range []bool{false, true} {
		f := newIPRF(p, pr, backup, n)
		tag, rounds := byte(tagPRPReg), regularRounds
		if backup {
			tag, rounds = tagPRPBak, backupRounds
		}
		const a, half, stride = 5, 6, 1 << 6
		raw := make([]byte, 4*backupRounds*stride) // 20 rounds' words either way
		if err := pr.fill(tag, 0, 0, a, 0, raw); err != nil {
			t.Fatal(err)
		}
		ref := func(x uint32, rounds int) uint32 {
			l, r := x>>half, x&(stride-1)
			for i := range rounds {
				w := func(z uint32) uint32 {
					return binary.LittleEndian.Uint32(raw[4*(uint32(i)*stride+z):]) & (stride - 1)
				}
				if i%2 == 0 {
					l ^= w(r)
				} else {
					r ^= w(l)
				}
			}
			return l<<half | r
		}
		bc := f.blockCacheFor(a)
		same10 := 0
		for x := range uint32(n) {
			y := f.perm(a, x, bc)
			if want := ref(x, rounds); y != want {
				t.Fatalf("backup=%v: P(%d) = %d, reference with %d rounds %d", backup, x, y, rounds, want)
			}
			if y == ref(x, regularRounds) {
				same10++
			}
		}
		if backup && same10 > 16 {
			t.Errorf("backup: %d of %d points as with %d rounds", same10, n, regularRounds)
		}
	}
}

// TestFeistelInstancesDiffer: with the same key and domain, the regular
// and the backup PRPs (separate streams, different round counts) are
// unrelated permutations.
func TestFeistelInstancesDiffer(t *testing.T) {
	p, err := NewParams(1<<16, 8)
	if err != nil {
		t.Fatal(err)
	}
	pr := testPRF(t)
	for _, n := range []uint32{100, 1 << 12} {
		reg, bak := newIPRF(p, pr, false, n), newIPRF(p, pr, true, n)
		for a := range uint32(4) {
			same := 0
			for x := range n {
				if reg.perm(a, x, reg.blockCacheFor(a)) == bak.perm(a, x, bak.blockCacheFor(a)) {
					same++
				}
			}
			// About one fixed point expected; 16 is far out.
			if same > 16 {
				t.Errorf("N=%d block %d: regular and backup PRPs agree on %d of %d points", n, a, same, n)
			}
		}
	}
}

// TestFeistelParity demonstrates the full-codebook distinguisher every
// balanced Feistel network on 2x>=2-bit halves has (Coppersmith and
// Grossman 1975; Even and Goldreich 1983): each round is an even
// permutation, so P_a is always even, where a uniform permutation is odd
// half the time. Swap-or-not is not confined so. (The iPRF's sampler hides
// the parity: see PRP.md.)
func TestFeistelParity(t *testing.T) {
	p, err := NewParams(1<<23, 8)
	if err != nil {
		t.Fatal(err)
	}
	pr := testPRF(t)
	const n = 1 << 12
	f := newIPRF(p, pr, true, n)
	s := newSR(pr, tagSRBak, n, srSecurity)
	perm := make([]uint32, n)
	odd := 0
	for a := range uint32(16) {
		bc := f.blockCacheFor(a)
		for x := range uint32(n) {
			perm[x] = f.perm(a, x, bc)
		}
		if permParity(perm) != 0 {
			t.Fatalf("block %d: odd Feistel permutation", a)
		}
		tb, err := s.tables(a)
		if err != nil {
			t.Fatal(err)
		}
		for x := range uint32(n) {
			perm[x] = tb.perm(x)
		}
		odd += permParity(perm)
	}
	if odd == 0 || odd == 16 {
		t.Errorf("swap-or-not: %d of 16 permutations odd", odd)
	}
}

// permParity returns the parity of the permutation perm of [len(perm)]
// (1: odd), by counting cycles.
func permParity(perm []uint32) int {
	seen := make([]bool, len(perm))
	cycles := 0
	for i := range perm {
		if seen[i] {
			continue
		}
		cycles++
		for j := uint32(i); !seen[j]; j = perm[j] {
			seen[j] = true
		}
	}
	return (len(perm) - cycles) & 1
}

// BenchmarkPRP compares the iPRF's Feistel with Sometimes-Recurse at the
// iPRF's domain sizes: eval and inv are one point with the block's tables
// in memory (as the Feistel's cached query path), eval-aes the SR point
// without tables (two AES calls a round), bulk-inv a whole block as hint
// generation needs it (table derivation from the keystream included),
// reported per point. feistel-backup is the backup hints' instance.
func BenchmarkPRP(b *testing.B) {
	p, err := NewParams(1<<23, 8)
	if err != nil {
		b.Fatal(err)
	}
	pr := testPRF(b)
	for _, lg := range []int{12, 16, 20} {
		n := uint32(1) << lg
		rng := mrand.New(mrand.NewPCG(1, uint64(lg)))
		benchFeistel(b, newIPRF(p, pr, false, n), "feistel", lg, rng)
		if n <= MaxBackups {
			benchFeistel(b, newIPRF(p, pr, true, n), "feistel-backup", lg, rng)
		}
		s := newSR(pr, tagSRReg, n, srSecurity)
		tb, err := s.tables(0)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("sr/N=2^%d/eval", lg), func(b *testing.B) {
			var sink uint32
			for range b.N {
				sink += tb.perm(rng.Uint32N(n) ^ sink&1)
			}
			b.ReportMetric(float64(s.levels[0].rounds), "rounds-level0")
		})
		b.Run(fmt.Sprintf("sr/N=2^%d/inv", lg), func(b *testing.B) {
			var sink uint32
			for range b.N {
				sink += tb.inv(rng.Uint32N(n) ^ sink&1)
			}
		})
		b.Run(fmt.Sprintf("sr/N=2^%d/eval-aes", lg), func(b *testing.B) {
			var sink uint32
			for range b.N {
				sink += s.permAES(0, rng.Uint32N(n)^sink&1)
			}
		})
		b.Run(fmt.Sprintf("sr/N=2^%d/bulk-inv", lg), func(b *testing.B) {
			dst := make([]uint32, n)
			for i := range b.N {
				t, err := s.tables(uint32(i))
				if err != nil {
					b.Fatal(err)
				}
				t.invertAll(dst)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/point")
		})
	}
}

// benchFeistel is BenchmarkPRP's Feistel part for one iPRF instance (its
// domain a power of two, so bulk-inv walks no cycles).
func benchFeistel(b *testing.B, f *iprf, name string, lg int, rng *mrand.Rand) {
	n := f.domain
	bc := f.blockCacheFor(0)
	b.Run(fmt.Sprintf("%s/N=2^%d/eval", name, lg), func(b *testing.B) {
		var sink uint32
		for range b.N {
			sink += f.perm(0, rng.Uint32N(n)^sink&1, bc)
		}
		b.ReportMetric(float64(f.rounds), "rounds")
	})
	b.Run(fmt.Sprintf("%s/N=2^%d/inv", name, lg), func(b *testing.B) {
		var sink uint32
		for range b.N {
			sink += f.permInv(0, rng.Uint32N(n)^sink&1, bc)
		}
	})
	b.Run(fmt.Sprintf("%s/N=2^%d/bulk-inv", name, lg), func(b *testing.B) {
		js := make([]uint32, ballRun)
		for i := range b.N {
			raw, err := f.roundWords(uint32(i))
			if err != nil {
				b.Fatal(err)
			}
			g := &iprfFiller{tab: f.packTables(raw), domain: n, v: f.v, maskV: f.maskV, pow2: true}
			for y := uint32(0); y < n; y += ballRun {
				g.invert(y, js[:min(ballRun, n-y)])
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/point")
	})
}

// BenchmarkIPRFRow is one row (the hint's offset in every block, the
// query path) of each iPRF instance at n = benchN, with every block's
// caches filled as HintInit leaves them: the backup row is what a query
// that promotes a backup hint evaluates.
func BenchmarkIPRFRow(b *testing.B) {
	p, err := NewParams(benchN, 8)
	if err != nil {
		b.Fatal(err)
	}
	pr := testPRF(b)
	for _, backup := range []bool{false, true} {
		domain, name := uint32(p.Regular()), "regular"
		if backup {
			domain, name = uint32(p.Q), "backup"
		}
		f := newIPRF(p, pr, backup, domain)
		for a := range uint32(p.C) {
			if f.blockCacheFor(a) == nil {
				b.Fatal("no block cache")
			}
		}
		f.fillDeep()
		offs, ok := make([]uint32, p.C), make([]bool, p.C)
		rng := mrand.New(mrand.NewPCG(2, 3))
		b.Run(fmt.Sprintf("%s/N=%d/C=%d", name, domain, p.C), func(b *testing.B) {
			for i := range b.N {
				f.row(rng.Uint32N(domain), i&1 == 1, offs, ok)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(p.C), "ns/block")
		})
	}
}
