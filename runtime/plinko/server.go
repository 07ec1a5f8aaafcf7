package plinko

import (
	"encoding/binary"
	"fmt"
	"sync"
)

// Server answers queries over the padded database held in memory. It keeps
// no per-client state. Safe for concurrent use.
type Server struct {
	p  Params
	mu sync.RWMutex
	db []byte
}

// NewServer serves db, the padded C*W*EntrySize-byte snapshot layout. The
// server keeps db (no copy) and modifies it in ApplyDelta.
func NewServer(p Params, db []byte) (*Server, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(db) != p.DBSize() {
		return nil, fmt.Errorf("plinko: database of %d bytes, want C*W*EntrySize = %d", len(db), p.DBSize())
	}
	return &Server{p: p, db: db}, nil
}

// Answer XORs the entries each set selects. epoch is the epoch of the
// database now held; a query built on a newer epoch is refused
// (ErrQueryAhead).
func (s *Server) Answer(q *Query, epoch uint64) (*Answer, error) {
	p := s.p
	if q == nil || len(q.Offsets) != p.C || len(q.Mask) != (p.C+7)/8 {
		return nil, fmt.Errorf("%w: query does not match the parameters", ErrMalformed)
	}
	if q.Epoch > epoch {
		return nil, fmt.Errorf("%w: query at epoch %d, database at %d", ErrQueryAhead, q.Epoch, epoch)
	}
	e := p.EntrySize
	ans := &Answer{Epoch: epoch, R0: make([]byte, e), R1: make([]byte, e)}
	s.mu.RLock()
	defer s.mu.RUnlock()
	w := uint32(p.W)
	if e == 8 {
		var r [2]uint64
		for i, off := range q.Offsets {
			if off >= w {
				return nil, fmt.Errorf("%w: offset %d outside a block of %d", ErrMalformed, off, w)
			}
			bit := q.Mask[i>>3] >> (i & 7) & 1
			r[bit] ^= binary.LittleEndian.Uint64(s.db[(i*p.W+int(off))*8:])
		}
		binary.LittleEndian.PutUint64(ans.R0, r[0])
		binary.LittleEndian.PutUint64(ans.R1, r[1])
		return ans, nil
	}
	if e == 16 { // no per-word loop
		var r [2][2]uint64
		for i, off := range q.Offsets {
			if off >= w {
				return nil, fmt.Errorf("%w: offset %d outside a block of %d", ErrMalformed, off, w)
			}
			acc := &r[q.Mask[i>>3]>>(i&7)&1]
			ent := s.db[(i*p.W+int(off))*16:][:16]
			acc[0] ^= binary.LittleEndian.Uint64(ent)
			acc[1] ^= binary.LittleEndian.Uint64(ent[8:])
		}
		for k := range 2 {
			binary.LittleEndian.PutUint64(ans.R0[8*k:], r[0][k])
			binary.LittleEndian.PutUint64(ans.R1[8*k:], r[1][k])
		}
		return ans, nil
	}
	if e == 24 { // the deployed keyword entries (96-bit tag, 96-bit wei)
		var r [2][3]uint64
		for i, off := range q.Offsets {
			if off >= w {
				return nil, fmt.Errorf("%w: offset %d outside a block of %d", ErrMalformed, off, w)
			}
			acc := &r[q.Mask[i>>3]>>(i&7)&1]
			ent := s.db[(i*p.W+int(off))*24:][:24]
			acc[0] ^= binary.LittleEndian.Uint64(ent)
			acc[1] ^= binary.LittleEndian.Uint64(ent[8:])
			acc[2] ^= binary.LittleEndian.Uint64(ent[16:])
		}
		for k := range 3 {
			binary.LittleEndian.PutUint64(ans.R0[8*k:], r[0][k])
			binary.LittleEndian.PutUint64(ans.R1[8*k:], r[1][k])
		}
		return ans, nil
	}
	r := [2][]uint64{make([]uint64, e/8), make([]uint64, e/8)}
	for i, off := range q.Offsets {
		if off >= w {
			return nil, fmt.Errorf("%w: offset %d outside a block of %d", ErrMalformed, off, w)
		}
		acc := r[q.Mask[i>>3]>>(i&7)&1]
		ent := s.db[(i*p.W+int(off))*e:]
		for k := range acc {
			acc[k] ^= binary.LittleEndian.Uint64(ent[8*k:])
		}
	}
	for k := range r[0] {
		binary.LittleEndian.PutUint64(ans.R0[8*k:], r[0][k])
		binary.LittleEndian.PutUint64(ans.R1[8*k:], r[1][k])
	}
	return ans, nil
}

// ApplyDelta XORs xor (old XOR new) into the entry at index.
func (s *Server) ApplyDelta(index uint64, xor []byte) error {
	if index >= s.p.N {
		return fmt.Errorf("plinko: delta index %d outside a database of %d entries", index, s.p.N)
	}
	if len(xor) != s.p.EntrySize {
		return fmt.Errorf("plinko: delta of %d bytes, want %d", len(xor), s.p.EntrySize)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ent := s.db[int(index)*s.p.EntrySize:]
	for i, x := range xor {
		ent[i] ^= x
	}
	return nil
}
