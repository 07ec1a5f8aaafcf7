//go:build js && wasm

package webcrypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"sync"
	"syscall/js"
)

// Source hands out AES-CTR keystreams (client.Config.Keystream) for the
// plinko offset functions. Each stream is lazy: its first XORKeyStream call
// is one WebCrypto request of exactly that many bytes (plinko fills a whole
// buffer at once), so no keystream is computed that nobody reads. Requests
// below MinBytes use Go's AES, where a promise round trip costs more than
// the software AES.
//
// Hint building asks for the same sequence of streams for every database
// block (same IV but for the block number, same lengths). Source learns
// that sequence (which request followed which, and whether the block number
// advanced) and requests the next Prefetch streams ahead, so that the
// browser's crypto threads compute keystream while the Go code consumes the
// previous one. A wrong guess only costs browser work: a prefetched result
// is used only for exactly the key, IV and length it was requested for.
type Source struct {
	// MinBytes is the smallest request sent to WebCrypto.
	MinBytes int
	// Prefetch is how many predicted requests are kept in flight.
	Prefetch int

	mu      sync.Mutex
	keyRaw  []byte
	key     js.Value // CryptoKey of keyRaw
	blk     cipher.Block
	next    map[pattern]transition
	last    *request
	flights []*flight

	// Statistics, for the benchmark.
	Requests, Hits, Wasted, Bytes, SmallBytes int64
}

// NewSource returns a Source with defaults measured in headless chromium.
func NewSource() *Source {
	return &Source{MinBytes: 4096, Prefetch: 2, next: map[pattern]transition{}}
}

// request names one keystream request: key fixed by the Source.
type request struct {
	iv [16]byte
	n  int
}

// pattern is a request with the block field of the IV (bytes 4..8 in
// plinko's layout, see plinko/keystream.go) taken out.
type pattern struct {
	iv [16]byte
	n  int
}

type transition struct {
	to    pattern
	delta uint32 // block number difference
}

func patternOf(r request) (pattern, uint32) {
	p := pattern{iv: r.iv, n: r.n}
	a := binary.BigEndian.Uint32(r.iv[4:8])
	binary.BigEndian.PutUint32(p.iv[4:8], 0)
	return p, a
}

func (p pattern) at(a uint32) request {
	r := request{iv: p.iv, n: p.n}
	binary.BigEndian.PutUint32(r.iv[4:8], a)
	return r
}

type flight struct {
	req request
	p   js.Value // Promise<Uint8Array>
}

// NewCTR implements the client.Config.Keystream factory.
func (s *Source) NewCTR(key, iv []byte) (cipher.Stream, error) {
	if len(iv) != 16 {
		return nil, fmt.Errorf("webcrypto: AES-CTR IV must be 16 bytes, got %d", len(iv))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.setKey(key); err != nil {
		return nil, err
	}
	st := &lazyStream{s: s}
	copy(st.ctr[:], iv)
	return st, nil
}

// setKey switches to key (a new master key at every hint refresh),
// dropping what was learned and prefetched for the old one.
func (s *Source) setKey(key []byte) error {
	if s.blk != nil && bytes.Equal(key, s.keyRaw) {
		return nil
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("webcrypto: %w", err)
	}
	raw := js.Global().Get("Uint8Array").New(len(key))
	js.CopyBytesToJS(raw, key)
	ck, err := await(js.Global().Get("plinkoAES").Call("importKey", raw))
	if err != nil {
		return fmt.Errorf("webcrypto: importing AES key: %w", err)
	}
	s.keyRaw, s.key, s.blk = append([]byte(nil), key...), ck, blk
	s.Wasted += int64(len(s.flights))
	s.flights, s.last = nil, nil
	clear(s.next)
	return nil
}

func (s *Source) launch(r request) js.Value {
	ctr := js.Global().Get("Uint8Array").New(16)
	js.CopyBytesToJS(ctr, r.iv[:])
	s.Requests++
	s.Bytes += int64(r.n)
	return js.Global().Get("plinkoAES").Call("keystream", s.key, ctr, r.n)
}

// keystream writes the keystream of r into dst (len(dst) == r.n).
func (s *Source) keystream(r request, dst []byte) error {
	// Learn: the previous request was followed by this one.
	pat, a := patternOf(r)
	if s.last != nil {
		lp, la := patternOf(*s.last)
		s.next[lp] = transition{to: pat, delta: a - la}
	}
	s.last = &r
	// Take the prefetched result, or ask now.
	var p js.Value
	for i, f := range s.flights {
		if f.req == r {
			p = f.p
			s.Hits++
			s.flights = append(s.flights[:i], s.flights[i+1:]...)
			break
		}
	}
	if p.IsUndefined() {
		p = s.launch(r)
	}
	// Predict and launch what follows before blocking on this one.
	s.predict(r)
	v, err := await(p)
	if err != nil {
		return fmt.Errorf("webcrypto: AES-CTR keystream: %w", err)
	}
	if n := v.Get("length").Int(); n != len(dst) {
		return fmt.Errorf("webcrypto: AES-CTR keystream: got %d bytes, want %d", n, len(dst))
	}
	js.CopyBytesToGo(dst, v)
	return nil
}

func (s *Source) predict(from request) {
	cur := from
	for k := 0; k < s.Prefetch; k++ {
		cp, ca := patternOf(cur)
		t, ok := s.next[cp]
		if !ok {
			return
		}
		nr := t.to.at(ca + t.delta)
		known := false
		for _, f := range s.flights {
			if f.req == nr {
				known = true
				break
			}
		}
		if !known {
			s.flights = append(s.flights, &flight{req: nr, p: s.launch(nr)})
		}
		cur = nr
	}
	// Keep the list short: drop the oldest guesses that were never used.
	for len(s.flights) > 2*s.Prefetch+2 {
		s.flights = s.flights[1:]
		s.Wasted++
	}
}

// lazyStream is one keystream from its IV: each XORKeyStream call takes the
// next bytes, from WebCrypto (large) or Go's AES (small).
type lazyStream struct {
	s    *Source
	ctr  [16]byte // counter block of the next whole block
	left []byte   // unused keystream of a partial block
	buf  []byte
}

func (l *lazyStream) XORKeyStream(dst, src []byte) {
	if len(dst) < len(src) {
		panic("webcrypto: output smaller than input")
	}
	for len(src) > 0 && len(l.left) > 0 {
		dst[0] = src[0] ^ l.left[0]
		l.left = l.left[1:]
		dst, src = dst[1:], src[1:]
	}
	if len(src) == 0 {
		return
	}
	ks := l.take(len(src), nil)
	for i := range src {
		dst[i] = src[i] ^ ks[i]
	}
}

// Read fills p with keystream; runtime/client prefers it to XORKeyStream
// over zeros (one copy less in WebAssembly, where every loop is slow).
func (l *lazyStream) Read(p []byte) (int, error) {
	total := len(p)
	n := copy(p, l.left)
	l.left = l.left[n:]
	p = p[n:]
	if len(p) > 0 {
		l.take(len(p), p)
	}
	return total, nil
}

// take produces the next n bytes of keystream (rounded up to whole AES
// blocks; the unused tail is kept in l.left). When into is given and n is a
// whole number of blocks, the keystream lands there directly.
func (l *lazyStream) take(n int, into []byte) []byte {
	blocks := (n + 15) / 16
	size := blocks * 16
	var ks []byte
	if into != nil && size == len(into) {
		ks = into
	} else {
		if cap(l.buf) < size {
			l.buf = make([]byte, size)
		}
		ks = l.buf[:size]
	}
	s := l.s
	s.mu.Lock()
	if size < s.MinBytes {
		s.SmallBytes += int64(size)
		clear(ks)
		cipher.NewCTR(s.blk, l.ctr[:]).XORKeyStream(ks, ks)
	} else if err := s.keystream(request{iv: l.ctr, n: size}, ks); err != nil {
		s.mu.Unlock()
		// cipher.Stream has no error result, and a wrong keystream would
		// silently corrupt hints: a browser whose WebCrypto fails stops here
		// (the wasm turns the panic into a failed operation).
		panic(err)
	}
	s.mu.Unlock()
	addCounter(&l.ctr, uint64(blocks))
	if into != nil && &ks[0] != &into[0] {
		copy(into, ks[:n])
	}
	l.left = ks[n:]
	return ks[:n]
}
