package plinko

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Wire format (all integers little-endian):
//
//	query:  version(1)=1 | logW(1) | epoch(8) | mask ceil(C/8) bytes | C offsets of logW bits, packed LSB first
//	answer: version(1)=1 | epoch(8) | r0 (EntrySize) | r1 (EntrySize)
//	batch:  version(1)=2 | count(2) in [1, MaxBatch] | count fixed-size items
//
// (Batch version 1 had a one-byte count; version 2 carries a portfolio
// lookup: 3 queries per address of up to 100 addresses, plus the check.)
//
// Bit i of the mask says which of the two sets block i belongs to; the
// server returns r0 (XOR of the entries of blocks with bit 0) and r1.
const (
	wireVersion  = 1
	queryHeader  = 1 + 1 + 8
	answerHeader = 1 + 8
	// MaxBatch bounds the number of queries or answers in one batch.
	MaxBatch = 512
	// BatchHeaderSize is the batch framing before the items.
	BatchHeaderSize = 3
	batchVersion    = 2
)

// PutBatchHeader writes the framing of a batch of k items into dst[:3].
func PutBatchHeader(dst []byte, k int) {
	dst[0] = batchVersion
	binary.LittleEndian.PutUint16(dst[1:], uint16(k))
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("plinko: malformed message")

// Query is what the client sends: a partition of the C blocks into two sets
// (Mask) and one offset per block. The unexported fields stay on the client
// and let Reconstruct pick the real set.
type Query struct {
	Epoch   uint64   // the client's hint epoch when the query was built
	Mask    []byte   // C bits: bit i set means block i is in set 1
	Offsets []uint32 // C offsets in [0, W)

	logW int
	pend *pending // client side only; nil for decoded queries
}

// Answer is the server's reply: the parity of each set at Epoch.
type Answer struct {
	Epoch uint64
	R0    []byte // XOR of the entries of set 0
	R1    []byte // XOR of the entries of set 1
}

// InSet1 reports whether block i belongs to set 1.
func (q *Query) InSet1(i int) bool { return q.Mask[i>>3]>>(i&7)&1 == 1 }

// MarshalBinary encodes q; it never fails for a query built by this package.
func (q *Query) MarshalBinary() ([]byte, error) {
	c := len(q.Offsets)
	if len(q.Mask) != (c+7)/8 {
		return nil, fmt.Errorf("plinko: query mask has %d bytes for %d blocks", len(q.Mask), c)
	}
	logW := q.logW
	if logW < 1 || logW > MaxLogW {
		return nil, errors.New("plinko: query has no block size")
	}
	out := make([]byte, queryHeader+len(q.Mask)+(c*logW+7)/8)
	out[0] = wireVersion
	out[1] = byte(logW)
	binary.LittleEndian.PutUint64(out[2:], q.Epoch)
	copy(out[queryHeader:], q.Mask)
	packBits(out[queryHeader+len(q.Mask):], q.Offsets, logW)
	return out, nil
}

// DecodeQuery parses a query for params p; it rejects every malformed input.
func DecodeQuery(p Params, b []byte) (*Query, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(b) != p.QuerySize() {
		return nil, fmt.Errorf("%w: query of %d bytes, want %d", ErrMalformed, len(b), p.QuerySize())
	}
	if b[0] != wireVersion {
		return nil, fmt.Errorf("%w: query version %d", ErrMalformed, b[0])
	}
	if int(b[1]) != p.LogW {
		return nil, fmt.Errorf("%w: query for block size 2^%d, want 2^%d", ErrMalformed, b[1], p.LogW)
	}
	mb := (p.C + 7) / 8
	q := &Query{
		Epoch:   binary.LittleEndian.Uint64(b[2:]),
		Mask:    append([]byte(nil), b[queryHeader:queryHeader+mb]...),
		Offsets: make([]uint32, p.C),
		logW:    p.LogW,
	}
	if p.C%8 != 0 && q.Mask[mb-1]>>(p.C%8) != 0 {
		return nil, fmt.Errorf("%w: query mask has bits past block %d", ErrMalformed, p.C)
	}
	if !unpackBits(q.Offsets, b[queryHeader+mb:], p.LogW) {
		return nil, fmt.Errorf("%w: query has padding bits set", ErrMalformed)
	}
	return q, nil
}

// MarshalBinary encodes a.
func (a *Answer) MarshalBinary() ([]byte, error) {
	if len(a.R0) != len(a.R1) || len(a.R0) == 0 {
		return nil, errors.New("plinko: answer parities of different sizes")
	}
	out := make([]byte, answerHeader+2*len(a.R0))
	out[0] = wireVersion
	binary.LittleEndian.PutUint64(out[1:], a.Epoch)
	copy(out[answerHeader:], a.R0)
	copy(out[answerHeader+len(a.R0):], a.R1)
	return out, nil
}

// DecodeAnswer parses an answer for params p.
func DecodeAnswer(p Params, b []byte) (*Answer, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(b) != p.AnswerSize() {
		return nil, fmt.Errorf("%w: answer of %d bytes, want %d", ErrMalformed, len(b), p.AnswerSize())
	}
	if b[0] != wireVersion {
		return nil, fmt.Errorf("%w: answer version %d", ErrMalformed, b[0])
	}
	e := p.EntrySize
	return &Answer{
		Epoch: binary.LittleEndian.Uint64(b[1:]),
		R0:    append([]byte(nil), b[answerHeader:answerHeader+e]...),
		R1:    append([]byte(nil), b[answerHeader+e:answerHeader+2*e]...),
	}, nil
}

// EncodeQueries encodes 1..MaxBatch queries as one batch (a lookup sends a
// fixed number of queries in one request).
func EncodeQueries(qs []*Query) ([]byte, error) {
	if len(qs) < 1 || len(qs) > MaxBatch {
		return nil, fmt.Errorf("plinko: batch of %d queries, want 1..%d", len(qs), MaxBatch)
	}
	out := make([]byte, BatchHeaderSize)
	PutBatchHeader(out, len(qs))
	for i, q := range qs {
		b, err := q.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("plinko: encoding query %d of batch: %w", i, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

// DecodeQueries parses a batch made by EncodeQueries.
func DecodeQueries(p Params, b []byte) ([]*Query, error) {
	n, err := batchCount(b, p.QuerySize())
	if err != nil {
		return nil, err
	}
	qs := make([]*Query, n)
	for i := range qs {
		s := BatchHeaderSize + i*p.QuerySize()
		if qs[i], err = DecodeQuery(p, b[s:s+p.QuerySize()]); err != nil {
			return nil, fmt.Errorf("batch item %d: %w", i, err)
		}
	}
	return qs, nil
}

// EncodeAnswers encodes 1..MaxBatch answers as one batch.
func EncodeAnswers(as []*Answer) ([]byte, error) {
	if len(as) < 1 || len(as) > MaxBatch {
		return nil, fmt.Errorf("plinko: batch of %d answers, want 1..%d", len(as), MaxBatch)
	}
	out := make([]byte, BatchHeaderSize)
	PutBatchHeader(out, len(as))
	for i, a := range as {
		b, err := a.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("plinko: encoding answer %d of batch: %w", i, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

// DecodeAnswers parses a batch made by EncodeAnswers.
func DecodeAnswers(p Params, b []byte) ([]*Answer, error) {
	n, err := batchCount(b, p.AnswerSize())
	if err != nil {
		return nil, err
	}
	as := make([]*Answer, n)
	for i := range as {
		s := BatchHeaderSize + i*p.AnswerSize()
		if as[i], err = DecodeAnswer(p, b[s:s+p.AnswerSize()]); err != nil {
			return nil, fmt.Errorf("batch item %d: %w", i, err)
		}
	}
	return as, nil
}

func batchCount(b []byte, item int) (int, error) {
	if len(b) < BatchHeaderSize {
		return 0, fmt.Errorf("%w: batch of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != batchVersion {
		return 0, fmt.Errorf("%w: batch format %d, this side speaks %d (update the older of client and server)", ErrMalformed, b[0], batchVersion)
	}
	n := int(binary.LittleEndian.Uint16(b[1:]))
	if n < 1 || n > MaxBatch {
		return 0, fmt.Errorf("%w: batch count %d outside 1..%d", ErrMalformed, n, MaxBatch)
	}
	if len(b) != BatchHeaderSize+n*item {
		return 0, fmt.Errorf("%w: batch of %d items has %d bytes, want %d", ErrMalformed, n, len(b), BatchHeaderSize+n*item)
	}
	return n, nil
}

// packBits writes each value's low k bits into dst, LSB first.
func packBits(dst []byte, vals []uint32, k int) {
	var acc uint64
	nb, o := 0, 0
	for _, v := range vals {
		acc |= uint64(v&(1<<k-1)) << nb
		nb += k
		for nb >= 8 {
			dst[o] = byte(acc)
			o++
			acc >>= 8
			nb -= 8
		}
	}
	if nb > 0 {
		dst[o] = byte(acc)
	}
}

// unpackBits is the inverse of packBits; it reports false if padding bits
// in the last byte are set (so every query has one encoding).
func unpackBits(dst []uint32, src []byte, k int) bool {
	var acc uint64
	nb, o := 0, 0
	for i := range dst {
		for nb < k {
			acc |= uint64(src[o]) << nb
			o++
			nb += 8
		}
		dst[i] = uint32(acc & (1<<k - 1))
		acc >>= k
		nb -= k
	}
	return acc == 0
}
