package sealed

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/plinko-pir/plinko/runtime/client"
	"github.com/plinko-pir/plinko/runtime/client/clienttest"
	"github.com/plinko-pir/plinko/runtime/keyword"
)

// secretsOf is what a reader of the state directory must not learn about a
// looked-up account: its address (bytes and hex), its trie key, its tag, its
// cuckoo positions (the PIR indices), its balance and its table entry, as
// bytes, 8-byte little- and big-endian words and decimal text.
func secretsOf(kw keyword.Params, a clienttest.Account) map[string][]byte {
	tag, pos := kw.Locate(a.Address)
	key := keyword.KeyOf(a.Address)
	entry, err := keyword.EncodeEntry(tag, &a.Wei)
	if err != nil {
		panic(err)
	}
	s := map[string][]byte{
		"address":         a.Address[:],
		"address hex":     []byte(hex.EncodeToString(a.Address[:])),
		"trie key":        key[:],
		"tag":             tag[:],
		"entry":           entry[:],
		"balance bytes":   entry[keyword.TagSize:],
		"balance decimal": []byte(a.Wei.Dec()),
	}
	words := map[string]uint64{"tag word": binary.LittleEndian.Uint64(tag[:]), "balance word": a.Wei.Uint64()}
	for i, p := range pos {
		words[fmt.Sprintf("position %d", i)] = p
	}
	for name, v := range words {
		s[name+" LE"] = binary.LittleEndian.AppendUint64(nil, v)
		s[name+" BE"] = binary.BigEndian.AppendUint64(nil, v)
		s[name+" decimal"] = []byte(strconv.FormatUint(v, 10))
	}
	return s
}

// leaks lists the secrets found in any file under dir.
func leaks(t *testing.T, dir string, secrets map[string][]byte) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for name, s := range secrets {
			if bytes.Contains(b, s) {
				found = append(found, name+" in "+d.Name())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestNothingLookedUpAtRest looks an address up through the real client
// against a real cdn and pir-server, twice (the second answered from the
// cache, a restart in between so both the state and the journal hold it),
// then reads every byte in the state directory. Sealed, none of the
// address's secrets are there; unsealed (the control), they are.
func TestNothingLookedUpAtRest(t *testing.T) {
	d := clienttest.Start(t, clienttest.Options{Accounts: 3000, Block: 50})
	kw := d.Table.Params()
	// An account whose positions have 4+ digits and whose balance has 13+,
	// so that their decimal text cannot turn up in random bytes by chance
	// (about 2^-32 a place).
	var target clienttest.Account
	for _, a := range d.Accounts {
		if _, pos := kw.Locate(a.Address); min(pos[0], pos[1], pos[2]) >= 1000 && !a.Wei.LtUint64(1e12) {
			target = a
			break
		}
	}
	secrets := secretsOf(kw, target)
	for _, seal := range []bool{false, true} {
		t.Run(fmt.Sprintf("sealed=%v", seal), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			for run := range 2 {
				lookUp(t, d, dir, seal, target)
				found := leaks(t, dir, secrets)
				switch {
				case seal && len(found) > 0:
					t.Fatalf("run %d: sealed state directory holds %v", run, found)
				case !seal && len(found) == 0:
					t.Fatalf("run %d: the control found nothing in the unsealed state: the search is broken", run)
				case !seal:
					t.Logf("unsealed run %d holds %d secrets, e.g. %s", run, len(found), found[0])
				}
			}
		})
	}
	// A directory from before sealing: its plaintext state is discarded
	// (fresh hints are built) and nothing of it is left after.
	t.Run("plaintext dir sealed", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		lookUp(t, d, dir, false, target)
		lookUp(t, d, dir, true, target)
		if found := leaks(t, dir, secrets); len(found) > 0 {
			t.Fatalf("after sealing an old directory: %v", found)
		}
	})
	// The raw bytes a sealed store hands to a Store in memory.
	t.Run("memory store", func(t *testing.T) {
		raw := &rawStore{}
		c, err := client.New(client.Config{CDN: d.CDN, PIR: d.PIR, Store: New(raw, Fixed(testKey(t, 3)))})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := c.Lookup(context.Background(), target.Address); err != nil {
				t.Fatal(err)
			}
		}
		if len(raw.journal) == 0 {
			t.Fatal("nothing journaled")
		}
		for name, sec := range secrets {
			for _, b := range append([][]byte{raw.state}, raw.journal...) {
				if bytes.Contains(b, sec) {
					t.Fatalf("%s in the stored bytes", name)
				}
			}
		}
	})
}

func lookUp(t *testing.T, d *clienttest.Deployment, dir string, seal bool, a clienttest.Account) {
	t.Helper()
	ctx := context.Background()
	ds := client.NewDirStore(dir)
	defer ds.Close()
	var store client.Store = ds
	if seal {
		store = New(ds, NewKeys(Options{Dir: dir, Keyring: deadKeyring{}}))
	}
	c, err := client.New(client.Config{CDN: d.CDN, PIR: d.PIR, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Lookup(ctx, a.Address)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found || !res.Wei.Eq(&a.Wei) {
		t.Fatalf("lookup = %+v, want %s wei", res, a.Wei.Dec())
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}
