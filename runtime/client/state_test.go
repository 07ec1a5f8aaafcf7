package client

import (
	"bytes"
	"errors"
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
	b := sampleState().marshal()
	for i := range b {
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
