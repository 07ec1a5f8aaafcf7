//go:build js && wasm

package main

import (
	"crypto/cipher"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/plinko-pir/plinko/runtime/keyword"
	"github.com/plinko-pir/plinko/runtime/plinko"
	"github.com/plinko-pir/plinko/runtime/wallet/webcrypto"
)

// benchParams selects one hint-building measurement.
type benchParams struct {
	N         uint64 `json:"n"`
	EntrySize int    `json:"entrySize"`
	Offsets   string `json:"offsets"`   // "iprf" or "aes-scan"; empty: the default
	Keystream string `json:"keystream"` // "webcrypto" or "go"
}

// bench times plinko's HintInit in this browser over a synthetic database
// of n entries (no download: the snapshot comes from a fast in-memory
// generator), with the keystream from WebCrypto or from Go's AES.
func bench(paramsJSON string) (any, error) {
	var bp benchParams
	if err := json.Unmarshal([]byte(paramsJSON), &bp); err != nil {
		return nil, err
	}
	if bp.EntrySize == 0 {
		bp.EntrySize = keyword.EntrySize
	}
	var opts []plinko.Option
	switch bp.Offsets {
	case "":
	case "iprf":
		opts = append(opts, plinko.WithOffsets(plinko.OffsetIPRF))
	case "aes-scan":
		opts = append(opts, plinko.WithOffsets(plinko.OffsetAESScan))
	default:
		return nil, fmt.Errorf("unknown offsets %q", bp.Offsets)
	}
	p, err := plinko.NewParams(bp.N, bp.EntrySize, opts...)
	if err != nil {
		return nil, err
	}
	var copts []plinko.ClientOption
	var src *webcrypto.Source
	switch bp.Keystream {
	case "go":
	case "webcrypto":
		src = webcrypto.NewSource()
		copts = append(copts, plinko.WithKeystream(streamKeystream(src.NewCTR)))
	default:
		return nil, fmt.Errorf("unknown keystream %q", bp.Keystream)
	}
	cl, err := plinko.NewClient(p, nil, copts...)
	if err != nil {
		return nil, err
	}
	db := &syntheticDB{rng: mrand.NewChaCha8([32]byte{7}), left: int64(p.DBSize())}
	start := time.Now()
	if err := cl.HintInit(db, nil); err != nil {
		return nil, err
	}
	took := time.Since(start)
	out := map[string]any{
		"n": p.N, "w": p.W, "c": p.C, "lambda": p.Lambda, "q": p.Q, "offsets": p.Offsets.String(),
		"keystream": bp.Keystream, "ms": took.Milliseconds(),
	}
	if src != nil {
		out["webcryptoRequests"] = src.Requests
		out["prefetchHits"] = src.Hits
		out["prefetchWasted"] = src.Wasted
		out["webcryptoBytes"] = src.Bytes
		out["goAESBytes"] = src.SmallBytes
	}
	return jsonString(out)
}

// streamKeystream adapts a cipher.Stream factory (client.Config.Keystream)
// to plinko.Keystream, as runtime/client does.
type streamKeystream func(key, iv []byte) (cipher.Stream, error)

func (f streamKeystream) Fill(key []byte, iv [16]byte, dst []byte) error {
	s, err := f(key, iv[:])
	if err != nil {
		return err
	}
	clear(dst)
	s.XORKeyStream(dst, dst)
	return nil
}

// syntheticDB streams pseudorandom entries: a stand-in for the snapshot
// download, which the benchmark leaves out.
type syntheticDB struct {
	rng  *mrand.ChaCha8
	left int64
	page []byte
}

func (d *syntheticDB) Read(p []byte) (int, error) {
	if d.left == 0 {
		return 0, fmt.Errorf("synthetic database exhausted")
	}
	if d.page == nil {
		d.page = make([]byte, 1<<16)
		d.rng.Read(d.page)
	}
	n := min(int64(len(p)), d.left)
	for i := int64(0); i < n; {
		i += int64(copy(p[i:n], d.page))
	}
	d.left -= n
	return int(n), nil
}
