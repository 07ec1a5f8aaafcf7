package keyword

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

func testParams(t testing.TB, accounts uint64, load float64, seed byte) Params {
	t.Helper()
	m, err := TableSizeFor(accounts, load)
	if err != nil {
		t.Fatal(err)
	}
	var p Params
	p.Seed[0] = seed
	p.TableSize = m
	return p
}

func randomAccounts(r *rand.Rand, n int) []Account {
	acc := make([]Account, n)
	for i := range acc {
		for j := range acc[i].Address {
			acc[i].Address[j] = byte(r.Uint32())
		}
		acc[i].Balance = r.Uint64()>>r.IntN(64) | 1
	}
	return acc
}

func TestTableSizeFor(t *testing.T) {
	for _, tc := range []struct {
		accounts uint64
		load     float64
		want     uint64
	}{
		{0, 0.85, MinTableSize},
		{100, 0.85, MinTableSize},
		{1000, 0.85, 1179},
		{1 << 23, 0.85, 9868953},
	} {
		got, err := TableSizeFor(tc.accounts, tc.load)
		if err != nil || got != tc.want {
			t.Errorf("TableSizeFor(%d, %v) = %d, %v; want %d", tc.accounts, tc.load, got, err, tc.want)
		}
		if got%Ways != 0 || float64(tc.accounts)/float64(got) > tc.load {
			t.Errorf("TableSizeFor(%d) = %d breaks its contract", tc.accounts, got)
		}
	}
	for _, bad := range []float64{0, -1, 0.92, 1, 2} {
		if _, err := TableSizeFor(10, bad); err == nil {
			t.Errorf("load %v accepted", bad)
		}
	}
}

func TestPositionsDistinctInPartition(t *testing.T) {
	p := Params{TableSize: 3 * 1001}
	r := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, p.TableSize)
	for range 100000 {
		pos := p.Positions(r.Uint64() | 1)
		for i, q := range pos {
			part := p.TableSize / Ways
			if q < uint64(i)*part || q >= uint64(i+1)*part {
				t.Fatalf("position %d = %d outside part %d", i, q, i)
			}
			counts[q]++
		}
	}
	// Each position expects 100 hits; a broken mix would leave holes.
	for q, c := range counts {
		if c < 40 || c > 180 {
			t.Fatalf("position %d hit %d times of ~100: positions not uniform", q, c)
		}
	}
}

func TestTagNeverZeroAndKeyed(t *testing.T) {
	var a [20]byte
	var s1, s2 [SeedSize]byte
	s2[0] = 1
	if Tag(s1, a) == 0 || Tag(s1, a) == Tag(s2, a) {
		t.Fatal("tag must be non-zero and depend on the seed")
	}
	a[19] = 1
	if Tag(s1, a) == Tag(s1, [20]byte{}) {
		t.Fatal("tag must depend on the address")
	}
}

func TestBuildFindsEveryAccount(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	acc := randomAccounts(r, 20000)
	acc[7].Balance = 0 // zero balances are not stored
	p := testParams(t, uint64(len(acc)), DefaultLoad, 9)
	tab, err := Build(p, acc)
	if err != nil {
		t.Fatal(err)
	}
	if got := tab.Occupied(); got != uint64(len(acc)-1) {
		t.Fatalf("occupied %d, want %d", got, len(acc)-1)
	}
	for i, a := range acc {
		tag, pos := p.Locate(a.Address)
		var entries [Ways][]byte
		for j, q := range pos {
			entries[j] = tab.Entry(q)
		}
		bal, found := Match(tag, entries)
		if i == 7 {
			if found {
				t.Fatal("zero-balance account stored")
			}
			continue
		}
		if !found || bal != a.Balance {
			t.Fatalf("account %d: found=%v balance %d, want %d", i, found, bal, a.Balance)
		}
	}
	// A random absent address is not found, and still has 3 positions.
	var absent [20]byte
	absent[0] = 0xee
	tag, pos := p.Locate(absent)
	if _, ok := tab.Find(tag); ok || len(pos) != Ways {
		t.Fatal("absent address found")
	}
}

func TestBuildDeterministicAnyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	acc := randomAccounts(r, 5000)
	p := testParams(t, uint64(len(acc)), 0.9, 1)
	a, err := Build(p, acc)
	if err != nil {
		t.Fatal(err)
	}
	r.Shuffle(len(acc), func(i, j int) { acc[i], acc[j] = acc[j], acc[i] })
	b, err := Build(p, acc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same accounts in another order gave another table")
	}
}

func TestBuildDuplicates(t *testing.T) {
	acc := []Account{{Address: [20]byte{1}, Balance: 1}, {Address: [20]byte{1}, Balance: 2}}
	if _, err := Build(testParams(t, 2, DefaultLoad, 0), acc); !errors.Is(err, ErrDuplicateAddress) {
		t.Fatalf("duplicate address: %v", err)
	}
}

// TestInsertReportsEveryChange fills a table past its design load with
// inserts and checks after each one that exactly the reported positions
// changed, every earlier account is still found, and a failed insert leaves
// the table untouched.
func TestInsertReportsEveryChange(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	p := testParams(t, 3000, 0.85, 2)
	tab, err := NewTable(p)
	if err != nil {
		t.Fatal(err)
	}
	var tags []uint64
	full := false
	for i := 0; i < int(p.TableSize); i++ {
		before := bytes.Clone(tab.Bytes())
		tag := r.Uint64() | 1
		changed, err := tab.Insert(tag, uint64(i)+1)
		if errors.Is(err, ErrTableFull) {
			if !bytes.Equal(before, tab.Bytes()) {
				t.Fatal("failed insert changed the table")
			}
			full = true
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tags = append(tags, tag)
		diff := map[uint64]bool{}
		for q := uint64(0); q < p.TableSize; q++ {
			if !bytes.Equal(before[q*EntrySize:(q+1)*EntrySize], tab.Entry(q)) {
				diff[q] = true
			}
		}
		for k, q := range changed {
			var was []byte
			if k == 0 {
				was = make([]byte, EntrySize)
			} else {
				was = tab.Entry(changed[k-1])
			}
			if !bytes.Equal(before[q*EntrySize:(q+1)*EntrySize], was) {
				t.Fatalf("insert %d: previous content of changed[%d] not where documented", i, k)
			}
		}
		if len(diff) != len(changed) {
			t.Fatalf("insert %d: %d positions changed, %d reported", i, len(diff), len(changed))
		}
		for _, q := range changed {
			if !diff[q] {
				t.Fatalf("insert %d: reported position %d did not change", i, q)
			}
		}
		if _, err := tab.Insert(tag, 5); !errors.Is(err, ErrTagExists) {
			t.Fatalf("re-insert: %v", err)
		}
	}
	if !full {
		t.Fatal("table never filled")
	}
	load := float64(len(tags)) / float64(p.TableSize)
	if load < 0.9 {
		t.Fatalf("table full at load %.3f, want >= 0.9", load)
	}
	t.Logf("full at load %.4f after %d inserts", load, len(tags))
	for i, tag := range tags {
		pos, ok := tab.Find(tag)
		if !ok || tab.Balance(pos) != uint64(i)+1 {
			t.Fatalf("tag %d lost after inserts", i)
		}
	}
}

func TestMatchSkipsShortEntries(t *testing.T) {
	e := EncodeEntry(42, 7)
	if b, ok := Match(42, [Ways][]byte{nil, {1, 2}, e[:]}); !ok || b != 7 {
		t.Fatal("match failed")
	}
	if _, ok := Match(43, [Ways][]byte{e[:], e[:], e[:]}); ok {
		t.Fatal("wrong tag matched")
	}
}

func TestParamsValidate(t *testing.T) {
	for _, m := range []uint64{0, 3, MinTableSize + 1, 1 << 63} {
		if (Params{TableSize: m}).Validate() == nil {
			t.Errorf("table size %d accepted", m)
		}
	}
	if _, err := TableFromBytes(Params{TableSize: MinTableSize}, make([]byte, 10)); err == nil {
		t.Error("short table accepted")
	}
	s, err := ParseSeed("0x" + Params{Seed: [32]byte{1, 2}}.SeedHex())
	if err != nil || s[1] != 2 {
		t.Errorf("seed round trip: %v", err)
	}
	if _, err := ParseSeed("zz"); err == nil {
		t.Error("bad seed accepted")
	}
}

// FuzzTableOps drives a small table with inserts and balance updates decoded
// from the input and checks that every inserted tag stays findable with its
// latest balance and that reported changes are exact.
func FuzzTableOps(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(bytes.Repeat([]byte{0xff, 0, 1}, 300))
	f.Fuzz(func(t *testing.T, ops []byte) {
		tab, err := NewTable(Params{TableSize: MinTableSize})
		if err != nil {
			t.Fatal(err)
		}
		want := map[uint64]uint64{}
		for len(ops) >= 9 {
			tag := binary.LittleEndian.Uint64(ops[1:9])
			op := ops[0]
			ops = ops[9:]
			if op%4 == 0 && len(want) > 0 {
				// update an existing tag's balance
				for k := range want {
					pos, ok := tab.Find(k)
					if !ok {
						t.Fatal("lost tag")
					}
					tab.SetBalance(pos, tag)
					want[k] = tag
					break
				}
				continue
			}
			before := bytes.Clone(tab.Bytes())
			changed, err := tab.Insert(tag, uint64(op))
			switch {
			case tag == 0:
				if err == nil {
					t.Fatal("tag 0 inserted")
				}
			case func() bool { _, ok := want[tag]; return ok }():
				if !errors.Is(err, ErrTagExists) {
					t.Fatalf("duplicate insert: %v", err)
				}
			case err != nil:
				if !errors.Is(err, ErrTableFull) || !bytes.Equal(before, tab.Bytes()) {
					t.Fatalf("failed insert: %v", err)
				}
			default:
				want[tag] = uint64(op)
				n := 0
				for q := uint64(0); q < MinTableSize; q++ {
					if !bytes.Equal(before[q*EntrySize:(q+1)*EntrySize], tab.Entry(q)) {
						n++
					}
				}
				if n != len(changed) {
					t.Fatalf("%d changed, %d reported", n, len(changed))
				}
			}
		}
		for tag, bal := range want {
			pos, ok := tab.Find(tag)
			if !ok || tab.Balance(pos) != bal {
				t.Fatalf("tag %x: found %v", tag, ok)
			}
		}
	})
}

func BenchmarkBuild(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	acc := randomAccounts(r, 1<<20)
	p := testParams(b, uint64(len(acc)), DefaultLoad, 3)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Build(p, acc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(acc))*float64(b.N)/b.Elapsed().Seconds(), "accounts/s")
}
