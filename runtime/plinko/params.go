package plinko

import (
	"errors"
	"fmt"
	"math/bits"
)

// Limits on the parameters. They bound every allocation a decoder or
// LoadClient makes, so hostile input cannot ask for gigabytes.
const (
	MaxN           = 1 << 28 // largest database, in entries
	MaxEntrySize   = 256     // bytes; entries are whole 64-bit words
	MaxLambda      = 512
	MaxBackups     = 1 << 16 // q: queries before a refresh
	MaxLogW        = 15      // 2W values must fit a 16-bit keystream word
	DefaultLambda  = 128
	DefaultBackups = 4096
)

// OffsetKind selects the function that maps (block, hint) to an offset.
type OffsetKind uint8

const (
	// OffsetIPRF is the paper's invertible PRF: a small-domain Feistel PRP
	// followed by a pseudorandom multinomial sampler with exact binomials.
	OffsetIPRF OffsetKind = 1
	// OffsetAESScan is a bulk AES-CTR PRF: one 16-bit keystream word per
	// (block, hint); inversion scans a whole block's keystream.
	OffsetAESScan OffsetKind = 2
)

// DefaultOffsets is the offset function chosen by the benchmarks (README.md).
const DefaultOffsets = OffsetIPRF

func (k OffsetKind) String() string {
	switch k {
	case OffsetIPRF:
		return "iprf"
	case OffsetAESScan:
		return "aes-scan"
	}
	return fmt.Sprintf("offsets(%d)", uint8(k))
}

// Params fixes the database layout and the client's hint budget. The
// database of N entries is padded with zero entries to C*W entries: block a
// holds entries [a*W, (a+1)*W).
type Params struct {
	N         uint64     // entries in the database
	EntrySize int        // bytes per entry, a multiple of 8
	LogW      int        // W = 1 << LogW
	W         int        // entries per block (offsets are in [0, W))
	C         int        // blocks, even
	Lambda    int        // security parameter: Lambda*W regular hints
	Q         int        // backup hints = queries before a refresh
	Offsets   OffsetKind // offset function
}

// Option adjusts NewParams.
type Option func(*Params)

// WithLambda sets the number of regular hints per block offset (default 128,
// failure probability about e^-(lambda/2) per query).
func WithLambda(l int) Option { return func(p *Params) { p.Lambda = l } }

// WithBackups sets q, the number of queries before a refresh (default 4096).
func WithBackups(q int) Option { return func(p *Params) { p.Q = q } }

// WithBlockSize sets W (a power of two) instead of the size-derived default.
func WithBlockSize(w int) Option {
	return func(p *Params) {
		p.W = w
	}
}

// WithOffsets selects the offset function (default DefaultOffsets).
func WithOffsets(k OffsetKind) Option { return func(p *Params) { p.Offsets = k } }

// NewParams chooses the layout for n entries of entrySize bytes: W is the
// power of two 2^ceil((log2 n + 2)/2) (n = 2^23 gives W = 8192, C = 1024,
// which keeps the query under 2 KiB), C = ceil(n/W) rounded up to even.
func NewParams(n uint64, entrySize int, opts ...Option) (Params, error) {
	p := Params{N: n, EntrySize: entrySize, Lambda: DefaultLambda, Q: DefaultBackups, Offsets: DefaultOffsets}
	if n >= 1 && n <= MaxN {
		lg := bits.Len64(n - 1) // ceil(log2 n)
		logW := (lg + 3) / 2    // ceil((lg+2)/2)
		logW = max(1, min(logW, MaxLogW))
		p.W = 1 << logW
	}
	for _, o := range opts {
		o(&p)
	}
	if p.W > 0 && p.W&(p.W-1) == 0 {
		p.LogW = bits.TrailingZeros(uint(p.W))
	}
	if n >= 1 && p.W > 0 {
		c := (n + uint64(p.W) - 1) / uint64(p.W)
		c += c & 1
		p.C = int(max(c, 2))
	}
	if err := p.Validate(); err != nil {
		return Params{}, err
	}
	return p, nil
}

// Validate reports whether the parameters are usable.
func (p Params) Validate() error {
	switch {
	case p.N < 1 || p.N > MaxN:
		return fmt.Errorf("plinko: n = %d outside [1, 2^28]", p.N)
	case p.EntrySize < 8 || p.EntrySize > MaxEntrySize || p.EntrySize%8 != 0:
		return fmt.Errorf("plinko: entry size %d is not a multiple of 8 in [8, %d]", p.EntrySize, MaxEntrySize)
	case p.W < 2 || p.W&(p.W-1) != 0 || p.LogW < 1 || p.LogW > MaxLogW || 1<<p.LogW != p.W:
		return fmt.Errorf("plinko: block size W = %d is not a power of two in [2, 2^%d]", p.W, MaxLogW)
	case p.C < 2 || p.C%2 != 0 || uint64(p.C)*uint64(p.W) < p.N || uint64(p.C-2)*uint64(p.W) >= p.N && p.C > 2:
		return fmt.Errorf("plinko: block count C = %d does not fit n = %d, W = %d", p.C, p.N, p.W)
	case p.Lambda < 1 || p.Lambda > MaxLambda:
		return fmt.Errorf("plinko: lambda = %d outside [1, %d]", p.Lambda, MaxLambda)
	case p.Q < 1 || p.Q > MaxBackups:
		return fmt.Errorf("plinko: q = %d outside [1, %d]", p.Q, MaxBackups)
	case p.Offsets != OffsetIPRF && p.Offsets != OffsetAESScan:
		return fmt.Errorf("plinko: unknown offset function %d", p.Offsets)
	case uint64(p.Lambda)*uint64(p.W) > 1<<24:
		return errors.New("plinko: lambda*W too large")
	}
	return nil
}

// Regular is the number of regular hints, Lambda*W.
func (p Params) Regular() int { return p.Lambda * p.W }

// DBSize is the byte length of the padded database (the snapshot).
func (p Params) DBSize() int { return p.C * p.W * p.EntrySize }

// BlockBytes is the byte length of one block of the snapshot.
func (p Params) BlockBytes() int { return p.W * p.EntrySize }

// QuerySize is the byte length of an encoded query.
func (p Params) QuerySize() int {
	return queryHeader + (p.C+7)/8 + (p.C*p.LogW+7)/8
}

// AnswerSize is the byte length of an encoded answer.
func (p Params) AnswerSize() int { return answerHeader + 2*p.EntrySize }
