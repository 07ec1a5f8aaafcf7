package client

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"
)

func sampleState() *savedState {
	s := &savedState{Manifest: []byte(`{"format_version":1}`), Epoch: 7, Block: 6, Hints: bytes.Repeat([]byte{9}, 100)}
	s.BlockHash[3] = 4
	return s
}

func TestStateRoundTrip(t *testing.T) {
	s := sampleState()
	got, err := unmarshalState(s.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got.Epoch != s.Epoch || got.Block != s.Block || got.BlockHash != s.BlockHash ||
		!bytes.Equal(got.Manifest, s.Manifest) || !bytes.Equal(got.Hints, s.Hints) {
		t.Fatalf("round trip: %+v", got)
	}
}

func TestStateRefusesDamage(t *testing.T) {
	st := sampleState()
	b := st.marshal()
	for i := 0; i < len(b)-len(st.Hints); i++ { // the hints are plinko's to verify
		d := bytes.Clone(b)
		d[i] ^= 0x80
		if _, err := unmarshalState(d); !errors.Is(err, ErrCorruptState) {
			t.Fatalf("flipped byte %d accepted: %v", i, err)
		}
	}
	for n := 0; n < len(b); n++ {
		if _, err := unmarshalState(b[:n]); !errors.Is(err, ErrCorruptState) {
			t.Fatalf("truncated to %d accepted: %v", n, err)
		}
	}
	if _, err := unmarshalState(append(bytes.Clone(b), 0)); !errors.Is(err, ErrCorruptState) {
		t.Fatalf("extended state accepted: %v", err)
	}
}

// TestRestoreRefusesDamage flips bytes all over a real saved state (header,
// manifest and hints): restore refuses every one.
func TestRestoreRefusesDamage(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, 300)
	store := &MemStore{}
	c := e.newClient(store)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := store.Load(ctx)
	if _, err := restore(b); err != nil {
		t.Fatalf("intact state refused: %v", err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for k := 0; k < 300; k++ {
		i := r.IntN(len(b))
		if k < 100 {
			i = k // every header byte
		}
		d := bytes.Clone(b)
		d[i] ^= 1 << r.IntN(8)
		if _, err := restore(d); !errors.Is(err, ErrCorruptState) {
			t.Fatalf("state with byte %d of %d flipped: %v", i, len(b), err)
		}
	}
}

func FuzzUnmarshalState(f *testing.F) {
	f.Add(sampleState().marshal())
	f.Add([]byte(stateMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := unmarshalState(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptState) {
				t.Fatalf("error does not wrap ErrCorruptState: %v", err)
			}
			return
		}
		if !bytes.Equal(s.marshal(), b) {
			t.Fatal("accepted state does not re-encode to the same bytes")
		}
	})
}
