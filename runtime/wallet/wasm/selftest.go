//go:build js && wasm

package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"github.com/plinko-pir/plinko/runtime/wallet/webcrypto"
)

// selftest checks that the WebCrypto keystream equals Go's AES-CTR byte for
// byte: key sizes, odd read sizes across chunk boundaries, and a counter that
// wraps through 2^128. The browser test calls it; a wallet whose browser
// disagreed would build hints it cannot query with.
func selftest() (any, error) {
	ivs := [][]byte{
		make([]byte, 16),
		bytes.Repeat([]byte{0xff}, 16),
		append(bytes.Repeat([]byte{0}, 8), bytes.Repeat([]byte{0xff}, 8)...),
		[]byte("0123456789abcdef"),
	}
	total := webcrypto.ChunkSize*2 + 12345
	checked := 0
	for _, keyLen := range []int{16, 32} {
		key := bytes.Repeat([]byte{byte(keyLen)}, keyLen)
		for _, iv := range ivs {
			blk, err := aes.NewCipher(key)
			if err != nil {
				return nil, err
			}
			// Start the counter near 2^128 so the second chunk wraps.
			iv := append([]byte(nil), iv...)
			want := make([]byte, total)
			cipher.NewCTR(blk, iv).XORKeyStream(want, want)
			s, err := webcrypto.NewCTR(key, iv)
			if err != nil {
				return nil, err
			}
			got := make([]byte, 0, total)
			step := 1
			for len(got) < total {
				n := min(step, total-len(got))
				part := make([]byte, n)
				if step%2 == 0 {
					s.XORKeyStream(part, part)
				} else {
					s.Read(part)
				}
				got = append(got, part...)
				step = step*3 + 7
			}
			if i := firstDiff(got, want); i >= 0 {
				return nil, fmt.Errorf("WebCrypto AES-CTR differs from Go's at byte %d (key %d bytes, iv %x)", i, keyLen, iv)
			}
			checked += total

			// The Source (what the client uses): lazy streams read in
			// odd pieces, small ones through Go's AES.
			src := webcrypto.NewSource()
			ls, err := src.NewCTR(key, iv)
			if err != nil {
				return nil, err
			}
			got = got[:0]
			step = 5
			for len(got) < total {
				n := min(step, total-len(got))
				part := make([]byte, n)
				if step%2 == 0 {
					ls.XORKeyStream(part, part)
				} else {
					ls.(interface{ Read([]byte) (int, error) }).Read(part)
				}
				got = append(got, part...)
				step = step*5 + 3
			}
			if i := firstDiff(got, want); i >= 0 {
				return nil, fmt.Errorf("WebCrypto Source keystream differs from Go's at byte %d (key %d bytes, iv %x)", i, keyLen, iv)
			}
			checked += total
		}
	}

	// The hint-building pattern: the same requests block after block, so
	// the Source prefetches; every prefetched result must still be right.
	key := []byte("0123456789abcdef")
	blk, _ := aes.NewCipher(key)
	src := webcrypto.NewSource()
	for a := range 6 {
		for _, req := range []struct{ sub, off, n int }{{0, 0, 32 << 10}, {0, 2048, 32 << 10}, {1, 0, 1 << 10}, {2, 0, 64 << 10}} {
			var iv [16]byte
			iv[1] = byte(req.sub)
			iv[7] = byte(a)
			iv[15] = byte(req.off)
			iv[14] = byte(req.off >> 8)
			want := make([]byte, req.n)
			cipher.NewCTR(blk, iv[:]).XORKeyStream(want, want)
			ls, err := src.NewCTR(key, iv[:])
			if err != nil {
				return nil, err
			}
			got := make([]byte, req.n)
			ls.(interface{ Read([]byte) (int, error) }).Read(got)
			if i := firstDiff(got, want); i >= 0 {
				return nil, fmt.Errorf("prefetched keystream differs from Go's at byte %d (block %d, request %+v)", i, a, req)
			}
			checked += req.n
		}
	}
	if src.Hits == 0 {
		return nil, fmt.Errorf("the Source never used a prefetched keystream (requests %d)", src.Requests)
	}
	return jsonString(map[string]any{"ok": true, "bytes": checked, "prefetchHits": src.Hits, "requests": src.Requests})
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
