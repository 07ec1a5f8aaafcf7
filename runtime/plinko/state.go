package plinko

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
)

// Client state format, version 3 (integers little-endian):
//
//	"PLKC" | version(1) | N(8) | EntrySize(2) | LogW(1) | C(4) | Lambda(2) | Q(4) | offsets(1)
//	| float digest(8) | master key(32) | epoch(8) | ready(1) | next(4)
//	if ready: regular parities (Lambda*W*EntrySize) | backup l (Q*EntrySize) | backup r (Q*EntrySize)
//	          | next promoted records: x(8) | flags(1: bit0 flip, bit1 used, bit2 owed)
//	          | consumed count(4) | ids(4 each, strictly increasing, < Lambda*W)
//	          | cache count(4) | records: index(8) | value(EntrySize)
//	          | check hints used(4, <= M) | check l (M*EntrySize) | check r (M*EntrySize), M = max(1, Q/3)
//	| sha256 of everything before (32)
//
// The master key is secret: the state must stay on the client.
//
// The float digest (floatDigest) fingerprints the floating-point math the
// iPRF's binomial sampler uses on the platform that built the hints; a
// state is refused where it differs (another architecture or toolchain
// could compute another F and silently answer wrong).
const (
	stateMagic   = "PLKC"
	stateVersion = 3
	stateHeader  = 4 + 1 + 8 + 2 + 1 + 4 + 2 + 4 + 1 + 8 + 32 + 8 + 1 + 4
)

// ErrBadState is wrapped by every LoadClient error.
var ErrBadState = errors.New("plinko: bad client state")

// MarshalBinary saves the client (hints, keys, cache, check hints, epoch).
// Queries not yet reconstructed are not saved: their hints stay used and
// their replacements owed (Owed).
func (c *Client) MarshalBinary() ([]byte, error) {
	p := c.p
	b := make([]byte, 0, stateHeader+len(c.parity)*8+len(c.bl)*16+64)
	b = append(b, stateMagic...)
	b = append(b, stateVersion)
	b = binary.LittleEndian.AppendUint64(b, p.N)
	b = binary.LittleEndian.AppendUint16(b, uint16(p.EntrySize))
	b = append(b, byte(p.LogW))
	b = binary.LittleEndian.AppendUint32(b, uint32(p.C))
	b = binary.LittleEndian.AppendUint16(b, uint16(p.Lambda))
	b = binary.LittleEndian.AppendUint32(b, uint32(p.Q))
	b = append(b, byte(p.Offsets))
	b = append(b, floatDigest()...)
	b = append(b, c.master[:]...)
	b = binary.LittleEndian.AppendUint64(b, c.epoch)
	if c.ready {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(c.next))
	if c.ready {
		for _, s := range [][]uint64{c.parity, c.bl, c.br} {
			for _, w := range s {
				b = binary.LittleEndian.AppendUint64(b, w)
			}
		}
		for _, pr := range c.prom {
			b = binary.LittleEndian.AppendUint64(b, pr.x)
			var f byte
			if pr.flip {
				f |= 1
			}
			if pr.used {
				f |= 2
			}
			if pr.owed {
				f |= 4
			}
			b = append(b, f)
		}
		ids := make([]uint32, 0, len(c.consumed))
		for j := range c.consumed {
			ids = append(ids, j)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ids)))
		for _, j := range ids {
			b = binary.LittleEndian.AppendUint32(b, j)
		}
		xs := make([]uint64, 0, len(c.cache))
		for x := range c.cache {
			xs = append(xs, x)
		}
		sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
		b = binary.LittleEndian.AppendUint32(b, uint32(len(xs)))
		for _, x := range xs {
			b = binary.LittleEndian.AppendUint64(b, x)
			for _, w := range c.cache[x] {
				b = binary.LittleEndian.AppendUint64(b, w)
			}
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(c.checks))
		for _, s := range [][]uint64{c.cl, c.cr} {
			for _, w := range s {
				b = binary.LittleEndian.AppendUint64(b, w)
			}
		}
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...), nil
}

// stateReader reads fields, remembering the first shortfall.
type stateReader struct {
	b   []byte
	bad bool
}

func (r *stateReader) take(n int) []byte {
	if r.bad || n < 0 || n > len(r.b) {
		r.bad = true
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *stateReader) u8() uint8 {
	if s := r.take(1); s != nil {
		return s[0]
	}
	return 0
}
func (r *stateReader) u16() uint16 {
	if s := r.take(2); s != nil {
		return binary.LittleEndian.Uint16(s)
	}
	return 0
}
func (r *stateReader) u32() uint32 {
	if s := r.take(4); s != nil {
		return binary.LittleEndian.Uint32(s)
	}
	return 0
}
func (r *stateReader) u64() uint64 {
	if s := r.take(8); s != nil {
		return binary.LittleEndian.Uint64(s)
	}
	return 0
}

func (r *stateReader) words(n int) []uint64 {
	s := r.take(8 * n)
	if s == nil {
		return nil
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(s[8*i:])
	}
	return out
}

// LoadClient restores a client saved by MarshalBinary. The checksum is
// verified before anything is parsed; every length is checked against the
// parameters and the input, so corrupt or hostile input is refused.
func LoadClient(state []byte, opts ...ClientOption) (*Client, error) {
	if len(state) < stateHeader+sha256.Size {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrBadState, len(state))
	}
	body, sum := state[:len(state)-sha256.Size], state[len(state)-sha256.Size:]
	if want := sha256.Sum256(body); string(want[:]) != string(sum) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadState)
	}
	r := &stateReader{b: body}
	if string(r.take(4)) != stateMagic {
		return nil, fmt.Errorf("%w: not a client state", ErrBadState)
	}
	if v := r.u8(); v != stateVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadState, v, stateVersion)
	}
	p := Params{N: r.u64(), EntrySize: int(r.u16()), LogW: int(r.u8()), C: int(r.u32()),
		Lambda: int(r.u16()), Q: int(r.u32()), Offsets: OffsetKind(r.u8())}
	if p.LogW <= MaxLogW {
		p.W = 1 << p.LogW
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadState, err)
	}
	if d := r.take(8); p.Offsets == OffsetIPRF && string(d) != string(floatDigest()) {
		return nil, fmt.Errorf("%w: the hints were built where floating-point math differs from this platform's (another architecture or Go version); rebuild them", ErrBadState)
	}
	cfg := clientConfig{ks: &StdKeystream{}, workers: 1, rand: rand.Reader}
	for _, o := range opts {
		o(&cfg)
	}
	c := &Client{p: p, cfg: cfg, rnd: cfg.rand, words: p.EntrySize / 8}
	copy(c.master[:], r.take(32))
	c.epoch = r.u64()
	ready := r.u8()
	next := int(r.u32())
	if r.bad || ready > 1 || next > p.Q || (ready == 0 && next != 0) {
		return nil, fmt.Errorf("%w: bad header", ErrBadState)
	}
	if err := c.setup(); err != nil {
		return nil, err
	}
	if err := c.reseed(); err != nil {
		return nil, err
	}
	if ready == 1 {
		if len(r.b) < (p.Regular()+2*p.Q)*p.EntrySize {
			return nil, fmt.Errorf("%w: hints truncated", ErrBadState)
		}
		c.parity = r.words(p.Regular() * c.words)
		c.bl = r.words(p.Q * c.words)
		c.br = r.words(p.Q * c.words)
		c.next = next
		c.prom = make([]promoted, 0, next)
		for j := 0; j < next; j++ {
			x, f := r.u64(), r.u8()
			if r.bad || x >= p.N || f > 7 {
				return nil, fmt.Errorf("%w: bad promoted hint %d", ErrBadState, j)
			}
			c.prom = append(c.prom, promoted{x: x, flip: f&1 != 0, used: f&2 != 0, owed: f&4 != 0})
			c.promByX[x] = append(c.promByX[x], uint32(j))
		}
		nc := int(r.u32())
		if r.bad || nc > p.Regular() || 4*nc > len(r.b) {
			return nil, fmt.Errorf("%w: bad consumed list", ErrBadState)
		}
		prev := -1
		for range nc {
			j := int(r.u32())
			if j <= prev || j >= p.Regular() {
				return nil, fmt.Errorf("%w: bad consumed hint id", ErrBadState)
			}
			prev = j
			c.consumed[uint32(j)] = struct{}{}
		}
		nx := int(r.u32())
		if r.bad || nx > p.Q+p.Regular() || nx*(8+p.EntrySize) > len(r.b) {
			return nil, fmt.Errorf("%w: bad cache", ErrBadState)
		}
		for range nx {
			x := r.u64()
			v := r.words(c.words)
			if r.bad || x >= p.N {
				return nil, fmt.Errorf("%w: bad cache entry", ErrBadState)
			}
			if _, dup := c.cache[x]; dup {
				return nil, fmt.Errorf("%w: duplicate cache entry", ErrBadState)
			}
			c.cache[x] = v
		}
		c.checks = int(r.u32())
		m := p.checkHints()
		if r.bad || c.checks > m || len(r.b) < 2*m*p.EntrySize {
			return nil, fmt.Errorf("%w: bad check hints", ErrBadState)
		}
		c.cl = r.words(m * c.words)
		c.cr = r.words(m * c.words)
		c.ready = true
	}
	if r.bad || len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing or missing bytes", ErrBadState, len(r.b))
	}
	c.jr.ok = c.ready // a loaded client is at a checkpoint
	return c, nil
}

// floatDigest fingerprints every floating-point result the iPRF's sampler
// depends on: math.Log and math.Lgamma over the magnitudes it meets, and
// binomial samples over the node sizes of the tree (rejection path
// included). Computed once per process.
func floatDigest() []byte {
	floatDigestOnce.Do(func() {
		h := sha256.New()
		var buf [8]byte
		put := func(v uint64) {
			binary.LittleEndian.PutUint64(buf[:], v)
			h.Write(buf[:])
		}
		x := uint64(0x9e3779b97f4a7c15)
		next := func() uint64 { // splitmix64
			x += 0x9e3779b97f4a7c15
			z := x
			z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
			z = (z ^ z>>27) * 0x94d049bb133111eb
			return z ^ z>>31
		}
		for e := -64; e <= 64; e++ {
			for range 4 {
				put(math.Float64bits(math.Log(math.Ldexp(unit(next())+0x1p-53, e))))
			}
		}
		for range 512 {
			k := float64(next() % (1 << 28))
			lg, _ := math.Lgamma(k + 1)
			put(math.Float64bits(lg))
		}
		for i := range 1024 {
			n := uint32(129 + next()%(1<<21))
			seed := next()
			more := func(it uint16) (uint64, uint64) {
				return seed ^ uint64(it)*0x9e3779b97f4a7c15, seed + uint64(it)*0xbf58476d1ce4e5b9
			}
			put(uint64(binomialHalf(n, next(), next(), more)) | uint64(i)<<32)
		}
		floatDigestSum = h.Sum(nil)[:8]
	})
	return floatDigestSum
}

var (
	floatDigestOnce sync.Once
	floatDigestSum  []byte
)
