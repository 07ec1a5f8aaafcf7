package plinko

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
)

// Keystream produces AES-CTR keystream: dst is filled with
// AES_key(ctr) || AES_key(ctr+1) || ... where ctr starts at iv and is
// incremented as one 128-bit big-endian integer (only its low 64 bits ever
// change, so WebCrypto's AES-CTR with length = 64 gives the same bytes).
// A partial last block is truncated. This is the bulk path of every offset
// function; a browser plugs in WebCrypto (hardware AES) through
// WithKeystream. Requests are large (a whole block's worth of words).
// Fill is called from several goroutines at once when HintInit runs with
// more than one worker.
type Keystream interface {
	Fill(key []byte, iv [16]byte, dst []byte) error
}

// StdKeystream is the default Keystream: crypto/aes + cipher.NewCTR.
type StdKeystream struct {
	mu  sync.Mutex
	key []byte
	blk cipher.Block
}

// Fill implements Keystream.
func (s *StdKeystream) Fill(key []byte, iv [16]byte, dst []byte) error {
	s.mu.Lock()
	if s.blk == nil || string(s.key) != string(key) {
		b, err := aes.NewCipher(key)
		if err != nil {
			s.mu.Unlock()
			return fmt.Errorf("plinko: keystream cipher: %w", err)
		}
		s.key, s.blk = append([]byte(nil), key...), b
	}
	blk := s.blk
	s.mu.Unlock()
	clear(dst)
	cipher.NewCTR(blk, iv[:]).XORKeyStream(dst, dst)
	return nil
}

// Key and IV derivation (documented so that any AES-CTR reproduces it):
//
//	aesKey = HMAC-SHA256(masterKey, "plinko/v1/aes")[:16]   (AES-128)
//	iv     = tag(1) | sub(1) | iter(2, big-endian) | block a (4, big-endian) | counter (8, big-endian, from 0)
//
// Streams (tag, sub, iter) for block a:
//
//	tagScanReg  (1, 0, 0): AES-PRF regular hints, 16-bit little-endian word j = F(a, j)
//	tagScanBak  (2, 0, 0): AES-PRF backup hints, same layout
//	tagPRPReg   (3, 0, 0): iPRF Feistel rounds for regular hints, 32-bit LE word r*stride+z = F_r(z), r < 10
//	tagPRPBak   (4, 0, 0): same for backup hints, r < 20 (rounds 0..9 are the words the earlier 10-round
//	                       backup PRP used, rounds 10..19 the next 10*stride words)
//	tagSampReg  (5, 0, i): iPRF sampler, attempt i: 16 bytes per tree node, heap order (counter 2^l-1+t)
//	tagSampBak  (6, 0, i): same for backup hints
//	tagSRReg    (7, l, 0): Sometimes-Recurse PRP (swapornot.go), level l: per round a key block, then the round's bitmap
//	tagSRBak    (8, l, 0): same for backup hints
//	tagScanChk  (9, 0, 0): check hints (verify.go), same layout as tagScanReg, words j < Q
const (
	tagScanReg = 1
	tagScanBak = 2
	tagPRPReg  = 3
	tagPRPBak  = 4
	tagSampReg = 5
	tagSampBak = 6
	tagSRReg   = 7
	tagSRBak   = 8
	tagScanChk = 9
)

func deriveAESKey(master []byte) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("plinko/v1/aes"))
	return m.Sum(nil)[:16]
}

func makeIV(tag, sub byte, iter uint16, a uint32, ctr uint64) (iv [16]byte) {
	iv[0], iv[1] = tag, sub
	binary.BigEndian.PutUint16(iv[2:], iter)
	binary.BigEndian.PutUint32(iv[4:], a)
	binary.BigEndian.PutUint64(iv[8:], ctr)
	return iv
}

// prf holds the one AES key of a client: single blocks through cipher.Block
// (random access), bulk through the Keystream.
type prf struct {
	key     []byte
	blk     cipher.Block
	ks      Keystream
	in, out [16]byte // scratch for block: the client is single-threaded
}

func newPRF(master []byte, ks Keystream) (*prf, error) {
	key := deriveAESKey(master)
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("plinko: cipher: %w", err)
	}
	return &prf{key: key, blk: blk, ks: ks}, nil
}

// block returns keystream block number ctr of stream (tag, sub, iter, a).
func (p *prf) block(tag, sub byte, iter uint16, a uint32, ctr uint64) (lo, hi uint64) {
	p.in = makeIV(tag, sub, iter, a, ctr)
	p.blk.Encrypt(p.out[:], p.in[:])
	return binary.LittleEndian.Uint64(p.out[:8]), binary.LittleEndian.Uint64(p.out[8:])
}

// fill writes keystream of stream (tag, sub, iter, a) starting at byte off
// (a multiple of 16) into dst.
func (p *prf) fill(tag, sub byte, iter uint16, a uint32, off uint64, dst []byte) error {
	return p.ks.Fill(p.key, makeIV(tag, sub, iter, a, off/16), dst)
}
