package keyword

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/holiman/uint256"
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

// randomWei is a non-zero balance of any width up to BalanceBits, dust
// included.
func randomWei(r *rand.Rand) uint256.Int {
	w := uint256.Int{r.Uint64(), r.Uint64() & (1<<32 - 1), 0, 0}
	w.Rsh(&w, uint(r.IntN(BalanceBits)))
	w[0] |= 1
	return w
}

func randomTag(r *rand.Rand) Tag {
	var t Tag
	binary.LittleEndian.PutUint64(t[:], r.Uint64())
	binary.LittleEndian.PutUint32(t[8:], r.Uint32())
	t[0] |= 1
	return t
}

func randomAccounts(r *rand.Rand, n int) []Account {
	acc := make([]Account, n)
	for i := range acc {
		for j := range acc[i].Key {
			acc[i].Key[j] = byte(r.Uint32())
		}
		acc[i].Balance = randomWei(r)
	}
	return acc
}

func wei(v uint64) *uint256.Int { return uint256.NewInt(v) }

// TestKeyOf pins the trie key to keccak256(address): the key of the zero
// address is the well-known 0x5380c7b7...
func TestKeyOf(t *testing.T) {
	k := KeyOf([20]byte{})
	if got := hex.EncodeToString(k[:]); got != "5380c7b7ae81a58eb98d9c78de4a1fd7fd9535fc953ed2be602daaa41767312a" {
		t.Fatalf("KeyOf(0x0) = %s", got)
	}
}

// TestEntryExactWei: every balance up to 2^96-1 wei comes back exactly,
// one wei more is refused (never truncated), and the layout is the
// documented one.
func TestEntryExactWei(t *testing.T) {
	tag := Tag{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	maxWei := new(uint256.Int).Sub(new(uint256.Int).Lsh(uint256.NewInt(1), BalanceBits), uint256.NewInt(1))
	dust := uint256.MustFromDecimal("1234567") // 1.234567e-12 ETH: under 1 gwei
	for _, w := range []*uint256.Int{uint256.NewInt(0), uint256.NewInt(1), dust, uint256.MustFromDecimal("120000000000000000000000000"), maxWei} {
		e, err := EncodeEntry(tag, w)
		if err != nil {
			t.Fatalf("%s: %v", w.Dec(), err)
		}
		gotTag, got := DecodeEntry(e[:])
		if gotTag != tag || !got.Eq(w) {
			t.Fatalf("%s wei came back as %s", w.Dec(), got.Dec())
		}
	}
	e, _ := EncodeEntry(tag, uint256.NewInt(0x0102))
	if want := "0102030405060708090a0b0c" + "020100000000000000000000"; hex.EncodeToString(e[:]) != want {
		t.Fatalf("entry layout %x, want %s", e, want)
	}
	over := new(uint256.Int).Add(maxWei, uint256.NewInt(1))
	if _, err := EncodeEntry(tag, over); !errors.Is(err, ErrBalanceTooLarge) {
		t.Fatalf("2^96 wei: %v", err)
	}
	tab, _ := NewTable(Params{TableSize: MinTableSize})
	if err := tab.SetBalance(0, over); !errors.Is(err, ErrBalanceTooLarge) || !bytes.Equal(tab.Entry(0), make([]byte, EntrySize)) {
		t.Fatalf("SetBalance(2^96): %v", err)
	}
	if _, err := tab.Insert(tag, over); !errors.Is(err, ErrBalanceTooLarge) || tab.Occupied() != 0 {
		t.Fatalf("Insert(2^96): %v", err)
	}
	if _, err := Build(Params{TableSize: MinTableSize}, []Account{{Key: Key{1}, Balance: *over}}); !errors.Is(err, ErrBalanceTooLarge) {
		t.Fatalf("Build(2^96): %v", err)
	}
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
		pos := p.Positions(randomTag(r))
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
	var k Key
	var s1, s2 [SeedSize]byte
	s2[0] = 1
	if TagOf(s1, k).IsZero() || TagOf(s1, k) == TagOf(s2, k) {
		t.Fatal("tag must be non-zero and depend on the seed")
	}
	k[31] = 1
	if TagOf(s1, k) == TagOf(s1, Key{}) {
		t.Fatal("tag must depend on the trie key")
	}
	var p Params
	p.TableSize = MinTableSize
	if tag, _ := p.Locate([20]byte{7}); tag != TagOf(p.Seed, KeyOf([20]byte{7})) {
		t.Fatal("Locate must tag the address's trie key")
	}
}

func TestBuildFindsEveryAccount(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	acc := randomAccounts(r, 20000)
	acc[7].Balance.Clear() // zero balances are not stored
	acc[8].Balance.SetUint64(1)
	p := testParams(t, uint64(len(acc)), DefaultLoad, 9)
	tab, err := Build(p, acc)
	if err != nil {
		t.Fatal(err)
	}
	if got := tab.Occupied(); got != uint64(len(acc)-1) {
		t.Fatalf("occupied %d, want %d", got, len(acc)-1)
	}
	for i, a := range acc {
		tag, pos := p.LocateKey(a.Key)
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
		if !found || !bal.Eq(&a.Balance) {
			t.Fatalf("account %d: found=%v balance %s, want %s", i, found, bal.Dec(), a.Balance.Dec())
		}
	}
	// A random absent address is not found, and still has 3 positions.
	var absent Key
	absent[0] = 0xee
	tag, pos := p.LocateKey(absent)
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
	acc := []Account{{Key: Key{1}, Balance: *wei(1)}, {Key: Key{1}, Balance: *wei(2)}}
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
	var tags []Tag
	full := false
	for i := 0; i < int(p.TableSize); i++ {
		before := bytes.Clone(tab.Bytes())
		tag := randomTag(r)
		changed, err := tab.Insert(tag, wei(uint64(i)+1))
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
		if _, err := tab.Insert(tag, wei(5)); !errors.Is(err, ErrTagExists) {
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
		if b := tab.Balance(pos); !ok || b.Uint64() != uint64(i)+1 {
			t.Fatalf("tag %d lost after inserts", i)
		}
	}
}

func TestMatchSkipsShortEntries(t *testing.T) {
	e, _ := EncodeEntry(Tag{42}, wei(7))
	if b, ok := Match(Tag{42}, [Ways][]byte{nil, {1, 2}, e[:]}); !ok || b.Uint64() != 7 {
		t.Fatal("match failed")
	}
	if _, ok := Match(Tag{43}, [Ways][]byte{e[:], e[:], e[:]}); ok {
		t.Fatal("wrong tag matched")
	}
	// Tags differing only in the high 32 bits share positions and must not
	// match each other.
	if _, ok := Match(Tag{42, 11: 1}, [Ways][]byte{e[:], e[:], e[:]}); ok {
		t.Fatal("tag matched on its low 64 bits only")
	}
	// An empty entry never matches, whatever tag is asked for.
	if _, ok := Match(Tag{}, [Ways][]byte{make([]byte, EntrySize), nil, nil}); ok {
		t.Fatal("empty entry matched")
	}
}

// FuzzDecodeEntry: any 24 bytes decode without a crash and re-encode to
// themselves (the layout has no slack), and Match agrees with DecodeEntry.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(make([]byte, EntrySize))
	f.Add(bytes.Repeat([]byte{0xff}, EntrySize))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < EntrySize {
			if _, ok := Match(Tag{1}, [Ways][]byte{b, b, b}); ok {
				t.Fatal("short entry matched")
			}
			return
		}
		tag, w := DecodeEntry(b)
		if !FitsBalance(&w) {
			t.Fatalf("decoded balance %s wider than %d bits", w.Dec(), BalanceBits)
		}
		e, err := EncodeEntry(tag, &w)
		if err != nil || !bytes.Equal(e[:], b[:EntrySize]) {
			t.Fatalf("re-encoding %x gave %x, %v", b[:EntrySize], e, err)
		}
		got, ok := Match(tag, [Ways][]byte{nil, b, nil})
		if ok != !tag.IsZero() || ok && !got.Eq(&w) {
			t.Fatalf("Match: %s %v", got.Dec(), ok)
		}
	})
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
		want := map[Tag]uint64{}
		for len(ops) >= 9 {
			// 8 bytes: the tag's low half (positions); op's high bits
			// give the tag's top byte, so that tags share positions.
			var tag Tag
			copy(tag[:8], ops[1:9])
			tag[11] = ops[0] >> 6
			op := ops[0]
			ops = ops[9:]
			if op%4 == 0 && len(want) > 0 {
				// update an existing tag's balance
				for k := range want {
					pos, ok := tab.Find(k)
					if !ok {
						t.Fatal("lost tag")
					}
					v := binary.LittleEndian.Uint64(tag[:8])
					if err := tab.SetBalance(pos, wei(v)); err != nil {
						t.Fatal(err)
					}
					want[k] = v
					break
				}
				continue
			}
			before := bytes.Clone(tab.Bytes())
			changed, err := tab.Insert(tag, wei(uint64(op)))
			switch {
			case tag.IsZero():
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
			if b := tab.Balance(pos); !ok || b.Uint64() != bal {
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
