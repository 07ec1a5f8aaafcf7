//go:build js && wasm

// Package webcrypto gives Go code compiled to WebAssembly the browser's
// hardware AES: an AES-CTR keystream from WebCrypto (crypto.subtle.encrypt
// over zeros), byte for byte the keystream of Go's cipher.NewCTR with the
// same key and IV (the whole 16-byte counter block increments big-endian).
// Go's own AES in WebAssembly is table-free software, several times slower.
//
// Each WebCrypto call is asynchronous. The stream requests big chunks and
// keeps the next ones in flight while the caller consumes the current one,
// so the browser's crypto threads run beside the Go code. Calls block the
// goroutine on a channel until the promise settles: never use a Stream on
// the goroutine JavaScript called into (start a goroutine first).
//
// The helpers plinkoAES.importKey and plinkoAES.keystream must exist on the
// global object (worker.js defines them).
package webcrypto

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"syscall/js"
)

// ChunkSize is the keystream requested per WebCrypto call: big enough that
// the per-call cost (promise, copy into Go memory) is small, small enough to
// keep memory flat.
const ChunkSize = 4 << 20

// inFlight is how many chunks are requested ahead of the one being consumed.
const inFlight = 2

// Available reports whether the page provides WebCrypto keystream helpers.
func Available() bool {
	aes := js.Global().Get("plinkoAES")
	return aes.Type() == js.TypeObject && js.Global().Get("crypto").Get("subtle").Type() == js.TypeObject
}

// Stream is a cipher.Stream producing AES-CTR keystream through WebCrypto.
type Stream struct {
	key     js.Value   // CryptoKey
	next    [16]byte   // counter block of the next chunk to request
	pending []js.Value // promises of the chunks requested, in order
	buf     []byte     // current chunk
	pos     int        // consumed bytes of buf
	err     error
}

var _ cipher.Stream = (*Stream)(nil)

// NewCTR returns a keystream for key (16, 24 or 32 bytes) and the initial
// counter block iv, like cipher.NewCTR(aes.NewCipher(key), iv).
func NewCTR(key, iv []byte) (*Stream, error) {
	if len(iv) != 16 {
		return nil, fmt.Errorf("webcrypto: AES-CTR IV must be 16 bytes, got %d", len(iv))
	}
	if k := len(key); k != 16 && k != 24 && k != 32 {
		return nil, fmt.Errorf("webcrypto: AES key must be 16, 24 or 32 bytes, got %d", k)
	}
	if !Available() {
		return nil, errors.New("webcrypto: crypto.subtle or plinkoAES is not available")
	}
	raw := js.Global().Get("Uint8Array").New(len(key))
	js.CopyBytesToJS(raw, key)
	ck, err := await(js.Global().Get("plinkoAES").Call("importKey", raw))
	if err != nil {
		return nil, fmt.Errorf("webcrypto: importing AES key: %w", err)
	}
	s := &Stream{key: ck, buf: make([]byte, 0, ChunkSize)}
	copy(s.next[:], iv)
	for range inFlight {
		s.request()
	}
	return s, nil
}

// request asks WebCrypto for the next chunk and advances the counter.
func (s *Stream) request() {
	ctr := js.Global().Get("Uint8Array").New(16)
	js.CopyBytesToJS(ctr, s.next[:])
	s.pending = append(s.pending, js.Global().Get("plinkoAES").Call("keystream", s.key, ctr, ChunkSize))
	addCounter(&s.next, ChunkSize/16)
}

// addCounter adds n to the 128-bit big-endian counter block, wrapping like
// Go's CTR mode.
func addCounter(c *[16]byte, n uint64) {
	for i := 15; i >= 0 && n != 0; i-- {
		sum := uint64(c[i]) + (n & 0xff)
		c[i] = byte(sum)
		n = n>>8 + sum>>8
	}
}

// refill makes the oldest in-flight chunk current and requests another.
func (s *Stream) refill() {
	p := s.pending[0]
	s.pending = s.pending[1:]
	s.request()
	v, err := await(p)
	if err != nil {
		s.err = fmt.Errorf("webcrypto: AES-CTR keystream: %w", err)
		panic(s.err)
	}
	n := v.Get("length").Int()
	if n != ChunkSize {
		s.err = fmt.Errorf("webcrypto: AES-CTR keystream: got %d bytes, want %d", n, ChunkSize)
		panic(s.err)
	}
	s.buf = s.buf[:n]
	js.CopyBytesToGo(s.buf, v)
	s.pos = 0
}

// XORKeyStream XORs each byte of src with the keystream into dst. Like every
// cipher.Stream it has no error result: a failure of the browser's crypto
// panics (it cannot happen for a valid key, and continuing with a wrong
// keystream would silently corrupt hints).
func (s *Stream) XORKeyStream(dst, src []byte) {
	if len(dst) < len(src) {
		panic("webcrypto: output smaller than input")
	}
	for len(src) > 0 {
		if s.pos == len(s.buf) {
			s.refill()
		}
		n := len(src)
		if avail := len(s.buf) - s.pos; n > avail {
			n = avail
		}
		ks := s.buf[s.pos : s.pos+n]
		for i := range n {
			dst[i] = src[i] ^ ks[i]
		}
		s.pos += n
		dst, src = dst[n:], src[n:]
	}
}

// Read fills p with keystream (XOR with zeros, without the XOR).
func (s *Stream) Read(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		if s.pos == len(s.buf) {
			s.refill()
		}
		n := copy(p, s.buf[s.pos:])
		s.pos += n
		p = p[n:]
	}
	return total, nil
}

// await blocks until the promise p settles.
func await(p js.Value) (js.Value, error) {
	type settled struct {
		v   js.Value
		err error
	}
	ch := make(chan settled, 1)
	var onOK, onErr js.Func
	onOK = js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- settled{v: args[0]}
		return nil
	})
	onErr = js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- settled{err: errors.New(args[0].Call("toString").String())}
		return nil
	})
	p.Call("then", onOK, onErr)
	r := <-ch
	onOK.Release()
	onErr.Release()
	return r.v, r.err
}
