package plinko

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	mrand "math/rand/v2"
	"runtime"
	"sort"
	"sync"
)

// Errors callers branch on.
var (
	// ErrEpochAhead: the answer was computed on a newer database than the
	// client's hints. Apply the missing deltas (and SetEpoch), then call
	// Reconstruct again with the same query and answer.
	ErrEpochAhead = errors.New("plinko: answer is newer than the client's hints")
	// ErrAnswerStale: the answer is older than the client's hints; query again.
	ErrAnswerStale = errors.New("plinko: answer is older than the client's hints")
	// ErrQueryAhead: the server refuses a query built on a newer epoch.
	ErrQueryAhead = errors.New("plinko: query is newer than the server's database")
	// ErrNeedRefresh: every backup hint is used; run HintInit again.
	ErrNeedRefresh = errors.New("plinko: backup hints exhausted, refresh the hints")
	// ErrNoHints: HintInit has not completed.
	ErrNoHints = errors.New("plinko: no hints, run HintInit")
	// ErrNoHint: no unused hint covers the index (probability about
	// e^-(lambda/2) per query); refresh the hints.
	ErrNoHint = errors.New("plinko: no unused hint covers the index")
	// ErrQueryUsed: the query was already reconstructed, or belongs to
	// hints that were refreshed since.
	ErrQueryUsed = errors.New("plinko: query already reconstructed or from older hints")
)

// ClientOption adjusts NewClient and LoadClient.
type ClientOption func(*clientConfig)

type clientConfig struct {
	ks      Keystream
	workers int
	rand    io.Reader
}

// WithKeystream supplies the bulk AES-CTR keystream (e.g. WebCrypto in a
// browser). Default: StdKeystream (crypto/aes).
func WithKeystream(ks Keystream) ClientOption { return func(c *clientConfig) { c.ks = ks } }

// WithWorkers sets the goroutines HintInit uses (default 1; 0 = GOMAXPROCS).
func WithWorkers(n int) ClientOption { return func(c *clientConfig) { c.workers = n } }

// WithRand sets the randomness source of a loaded client (default crypto/rand).
func WithRand(r io.Reader) ClientOption { return func(c *clientConfig) { c.rand = r } }

// Client holds the hints. It is not safe for concurrent use.
type Client struct {
	p     Params
	cfg   clientConfig
	rnd   io.Reader      // secret randomness: master keys, rng seed
	rng   *mrand.ChaCha8 // query randomness (hint choice, decoys, dummy offsets, order)
	rq    *mrand.Rand    // unbiased draws from rng
	words int            // EntrySize / 8

	master [32]byte
	prf    *prf
	reg    offsetFunc
	bak    offsetFunc

	epoch uint64
	ready bool
	gen   uint64 // bumped by HintInit; stale queries are refused

	parity   []uint64 // regular hints, words each
	consumed map[uint32]struct{}
	bl, br   []uint64 // backup parities inside / outside the backup set; bl holds the promoted parity
	next     int      // backups assigned so far: each query reserves one when built
	prom     []promoted
	promByX  map[uint64][]uint32
	cache    map[uint64][]uint64
	chk      offsetFunc          // check hints (verify.go): an AES-PRF of domain checkHints
	cl, cr   []uint64            // check hints' parities of set l and set r
	checks   int                 // check hints used so far
	open     map[uint32]*pending // backups reserved by the batch being built, by the query filling them
	jr       journal             // changes since the last Checkpoint (journal.go)
}

// promoted is backup hint j after a query for x: its set is the backup set
// (or its complement when flip) plus block x/W at offset x%W. The backup is
// reserved when the query is built; its parity is complete (owed is false)
// once the query's answer gave x's value.
type promoted struct {
	x    uint64
	flip bool
	used bool
	owed bool
}

// NewClient makes a client with a fresh master key read from rand. Call
// HintInit before querying.
func NewClient(p Params, rnd io.Reader, opts ...ClientOption) (*Client, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	cfg := clientConfig{ks: &StdKeystream{}, workers: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	c := &Client{p: p, cfg: cfg, rnd: rnd, words: p.EntrySize / 8}
	if err := c.reseed(); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(rnd, c.master[:]); err != nil {
		return nil, fmt.Errorf("plinko: reading master key: %w", err)
	}
	if err := c.setup(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) reseed() error {
	var seed [32]byte
	if _, err := io.ReadFull(c.rnd, seed[:]); err != nil {
		return fmt.Errorf("plinko: seeding query randomness: %w", err)
	}
	c.rng = mrand.NewChaCha8(seed)
	c.rq = mrand.New(c.rng)
	return nil
}

// setup derives the PRFs from the master key and empties the hint state.
func (c *Client) setup() error {
	pr, err := newPRF(c.master[:], c.cfg.ks)
	if err != nil {
		return err
	}
	c.prf = pr
	if c.reg, err = newOffsetFunc(c.p.Offsets, c.p, pr, false); err != nil {
		return err
	}
	if c.bak, err = newOffsetFunc(c.p.Offsets, c.p, pr, true); err != nil {
		return err
	}
	c.chk = &aesScan{prf: pr, tag: tagScanChk, domain: uint32(c.p.checkHints()), mask: uint32(2*c.p.W - 1)}
	c.ready = false
	c.gen++
	c.consumed = map[uint32]struct{}{}
	c.next = 0
	c.prom = c.prom[:0]
	c.checks = 0
	c.open = nil
	c.promByX = map[uint64][]uint32{}
	c.cache = map[uint64][]uint64{}
	return nil
}

// warm builds the iPRF's per-block caches now rather than on first use
// (HintInit builds them as it goes; a loaded client builds them lazily).
// With deep, it also fills the deep records, as HintInit leaves them (a
// loaded client fills them as its walks pass).
func (c *Client) warm(deep bool) {
	for _, f := range []offsetFunc{c.reg, c.bak} {
		if ip, ok := f.(*iprf); ok {
			for a := range uint32(c.p.C) {
				ip.blockCacheFor(a)
			}
			if deep {
				ip.fillDeep()
			}
		}
	}
}

// Params returns the client's parameters.
func (c *Client) Params() Params { return c.p }

// Epoch is the database epoch the hints reflect.
func (c *Client) Epoch() uint64 { return c.epoch }

// SetEpoch records the epoch the hints reflect: after HintInit, the
// snapshot's epoch; after applying a delta file, its epoch.
func (c *Client) SetEpoch(e uint64) {
	c.epoch = e
	c.logEpoch(e)
}

// Ready reports whether hints are built.
func (c *Client) Ready() bool { return c.ready }

// QueriesLeft is the number of queries before a refresh is needed.
func (c *Client) QueriesLeft() int {
	if !c.ready {
		return 0
	}
	return c.p.Q - c.next
}

// HintInit (re)builds all hints from the snapshot: C blocks of W entries,
// read in order from r. A refresh draws a fresh master key, so hints never
// reuse sets the server has seen. progress, if not nil, is called after
// each block with bytes done and total. The epoch is left as is: call
// SetEpoch with the snapshot's epoch.
//
// The new hints are built beside the old ones and replace them only on
// success: a failed refresh (a truncated download) leaves the client as it
// was. r is not used after HintInit returns.
func (c *Client) HintInit(r io.Reader, progress func(done, total uint64)) error {
	n := &Client{p: c.p, cfg: c.cfg, rnd: c.rnd, rng: c.rng, rq: c.rq, words: c.words,
		epoch: c.epoch, gen: c.gen}
	if err := n.hintInit(r, progress); err != nil {
		return err
	}
	*c = *n
	return nil
}

func (c *Client) hintInit(r io.Reader, progress func(done, total uint64)) error {
	if _, err := io.ReadFull(c.rnd, c.master[:]); err != nil {
		return fmt.Errorf("plinko: reading master key: %w", err)
	}
	if err := c.setup(); err != nil {
		return err
	}
	p := c.p
	m := p.Regular()
	c.parity = make([]uint64, m*c.words)
	c.bl = make([]uint64, p.Q*c.words)
	c.br = make([]uint64, p.Q*c.words)
	c.cl = make([]uint64, p.checkHints()*c.words)
	c.cr = make([]uint64, p.checkHints()*c.words)

	workers := c.cfg.workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, m/1024))
	bb := p.BlockBytes()
	total := uint64(p.C) * uint64(bb)

	// A reader goroutine keeps one block ahead of the hint computation.
	type blockBuf struct {
		entries []uint64
		err     error
	}
	free := make(chan []uint64, 2)
	full := make(chan blockBuf, 2)
	free <- make([]uint64, p.W*c.words)
	free <- make([]uint64, p.W*c.words)
	stop := make(chan struct{})
	var reader sync.WaitGroup
	defer func() {
		close(stop)
		reader.Wait() // the caller's reader is never touched after return
	}()
	reader.Add(1)
	go func() {
		defer reader.Done()
		raw := make([]byte, bb)
		for a := 0; a < p.C; a++ {
			var e []uint64
			select {
			case e = <-free:
			case <-stop:
				return
			}
			var out blockBuf
			if _, err := io.ReadFull(r, raw); err != nil {
				out.err = fmt.Errorf("plinko: reading block %d of %d of the snapshot: %w", a, p.C, err)
			} else {
				for i := range e {
					e[i] = binary.LittleEndian.Uint64(raw[8*i:])
				}
				out.entries = e
			}
			select {
			case full <- out:
			case <-stop:
				return
			}
			if out.err != nil {
				return
			}
		}
	}()

	scr := make([]hintScratch, workers)
	ip, _ := c.reg.(*iprf)
	var hb *hintBatch
	if ip != nil {
		hb = c.newHintBatch(scr)
	}
	bvals := make([]uint16, p.Q)
	for a := 0; a < p.C; a++ {
		bk := <-full
		if bk.err != nil {
			return bk.err
		}
		if hb != nil {
			g, err := ip.prepareMembers(uint32(a))
			if err != nil {
				return err
			}
			c.fileBlock(hb, g, bk.entries)
			if hb.n == batchBlocks || a == p.C-1 {
				c.applyBatch(hb)
			}
		} else if err := c.initRegularAES(uint32(a), bk.entries, scr); err != nil {
			return err
		}
		if err := c.initBackups(uint32(a), bk.entries, bvals); err != nil {
			return err
		}
		if err := c.initChecks(uint32(a), bk.entries, bvals); err != nil {
			return err
		}
		free <- bk.entries
		if progress != nil {
			progress(uint64(a+1)*uint64(bb), total)
		}
	}
	c.ready = true
	return nil
}

// hintScratch is one HintInit worker's buffers.
type hintScratch struct {
	vals []uint16 // AES-PRF: the offsets of a chunk of hints
	js   []uint32 // iPRF: the hints of a run of member balls
	// iPRF: bucket k collects (hint mod 2^shift, block in batch, offset)
	// for hints [k<<shift, (k+1)<<shift) in bucket[k*cap : end[k]].
	bucket  []uint32
	end     []uint32
	touched uint64 // applyBucket's results, kept so that its loads stay
}

// ballRun is the number of balls inverted at a time (fits in L1).
const ballRun = 1 << 10

// batchBlocks is how many blocks the iPRF's HintInit files into its
// buckets before applying them: every apply pass streams all the parities
// through memory (8 MiB, 16 MiB with 16-byte entries). Two blocks made
// 16-byte entries about 12% faster; four were no faster than two (the
// larger buckets leave the cache instead).
const batchBlocks = 2

// bucketCapForTest, when not 0, overrides the bucket capacity so that a
// test can force the overflow flushes.
var bucketCapForTest uint32

// hintBatch is the iPRF's HintInit state between bucket applications.
type hintBatch struct {
	shift  uint
	cap    uint32   // entries per bucket, per worker
	blocks []uint64 // the batch's blocks, contiguous: offset v of block b is entry b*W+v
	n      int      // blocks in the batch so far
	scr    []hintScratch
	flush  []sync.Mutex // per bucket: overflow flushes of different workers
}

// bucketShift sizes the buckets so that the parities one bucket updates
// (2^shift hints) span about 128 KiB, which stays in the core's cache
// while the bucket is applied; a pair (hint bits, block in batch, offset)
// must fit in 32 bits.
func bucketShift(words, logW int) uint {
	return uint(max(6, min(14-bits.Len(uint(words))+1, 32-logW-bits.Len(batchBlocks-1))))
}

func (c *Client) newHintBatch(scr []hintScratch) *hintBatch {
	m := c.p.Regular()
	hb := &hintBatch{shift: bucketShift(c.words, c.p.LogW), scr: scr,
		blocks: make([]uint64, batchBlocks*c.p.W*c.words)}
	nb := (m + 1<<hb.shift - 1) >> hb.shift
	// A block makes about half its hints members; the margin makes an
	// overflow (handled, by applying the bucket early) practically never
	// happen, and leaves room for a whole run of balls.
	expect := batchBlocks << hb.shift / 2 / len(scr)
	hb.cap = uint32(min(batchBlocks<<hb.shift, expect+expect/8+ballRun))
	if bucketCapForTest != 0 {
		hb.cap = bucketCapForTest
	}
	hb.flush = make([]sync.Mutex, nb)
	for w := range scr {
		scr[w].js = make([]uint32, ballRun)
		scr[w].bucket = make([]uint32, nb*int(hb.cap))
		scr[w].end = make([]uint32, nb)
		for k := range scr[w].end {
			scr[w].end[k] = uint32(k) * hb.cap
		}
	}
	return hb
}

// parallel runs f(0..n-1) on n goroutines (inline when n is 1).
func parallel(n int, f func(w int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() { defer wg.Done(); f(w) }()
	}
	wg.Wait()
}

// fileBlock adds block blk (prepared as inv) to the batch. The block's
// members are the balls of the lower W bins, so only they are inverted
// (half the PRP work of evaluating every hint) and each ball's bin is
// known from the walk. Scattering straight into the parities would miss
// the cache (8 MiB of them), so the (hint, offset) pairs go into buckets
// that each cover a cache-sized range of parities. Workers split the balls.
func (c *Client) fileBlock(hb *hintBatch, inv *iprfFiller, blk []uint64) {
	bw := c.p.W * c.words
	copy(hb.blocks[hb.n*bw:(hb.n+1)*bw], blk)
	st := inv.starts
	members := st[len(st)-1]
	workers := len(hb.scr)
	parallel(workers, func(w int) {
		lo := uint32(uint64(members) * uint64(w) / uint64(workers))
		hi := uint32(uint64(members) * uint64(w+1) / uint64(workers))
		c.scatter(hb, &hb.scr[w], inv, lo, hi)
	})
	hb.n++
}

// applyBatch XORs every filed pair into the parities; workers split the
// buckets.
func (c *Client) applyBatch(hb *hintBatch) {
	nb := len(hb.flush)
	workers := len(hb.scr)
	parallel(workers, func(w int) {
		var touched uint64
		for k := nb * w / workers; k < nb*(w+1)/workers; k++ {
			for i := range hb.scr {
				s := &hb.scr[i]
				touched += c.applyBucket(hb.blocks, s.bucket[uint32(k)*hb.cap:s.end[k]], uint32(k)<<hb.shift, hb.shift)
				s.end[k] = uint32(k) * hb.cap
			}
		}
		hb.scr[w].touched += touched
	})
	hb.n = 0
}

// scatter inverts the balls [lo, hi) of the batch's newest block and files
// each (hint, block in batch, bin) in the hint's bucket.
func (c *Client) scatter(hb *hintBatch, s *hintScratch, inv *iprfFiller, lo, hi uint32) {
	st := inv.starts
	blockTag := uint32(hb.n) << c.p.LogW
	v := uint32(sort.Search(len(st)-1, func(v int) bool { return st[v+1] > lo })) // bin of ball lo
	for y0 := lo; y0 < hi; y0 += ballRun {
		js := s.js[:min(ballRun, hi-y0)]
		// Make room for the whole run in every bucket first, so that
		// filing needs no check.
		for k, e := range s.end {
			if e+uint32(len(js)) > uint32(k+1)*hb.cap {
				hb.flush[k].Lock()
				s.touched += c.applyBucket(hb.blocks, s.bucket[uint32(k)*hb.cap:e], uint32(k)<<hb.shift, hb.shift)
				hb.flush[k].Unlock()
				s.end[k] = uint32(k) * hb.cap
			}
		}
		inv.invert(y0, js)
		for y, end := y0, y0+uint32(len(js)); y < end; {
			for st[v+1] <= y {
				v++
			}
			next := min(st[v+1], end)
			fileInBuckets(s.bucket, s.end, js[y-y0:next-y0], blockTag|v, hb.shift)
			y = next
		}
	}
}

// fileInBuckets files hints js, all of offset v, in their buckets. Not
// inlined: on its own the loop stays in registers (inlined into scatter's
// loops it spilled to the stack, 2x slower).
//
//go:noinline
func fileInBuckets(bucket, ends, js []uint32, v uint32, shift uint) {
	shift &= 31
	mask, tag := uint32(1)<<shift-1, v<<shift
	for _, j := range js {
		k := j >> shift
		p := ends[k]
		bucket[p] = j&mask | tag
		ends[k] = p + 1
	}
}

// touch reads one word of every cache line of par in order, so that the
// hardware prefetcher brings the bucket's parities in ahead of the random
// updates (3x faster updates than letting each one miss). The sum is
// returned only so that the loads are not optimised away.
func touch(par []uint64) uint64 {
	var sum uint64
	for i := 0; i < len(par); i += 8 {
		sum += par[i]
	}
	return sum
}

// applyBucket XORs, for each pair of the bucket, the entry at the pair's
// offset into the parity of hint base + the pair's low bits. It returns
// touch's sum.
func (c *Client) applyBucket(blk []uint64, pairs []uint32, base uint32, shift uint) (touched uint64) {
	mask := uint32(1)<<shift - 1
	switch c.words {
	case 1:
		par := c.parity[base:]
		touched = touch(par[:min(len(par), 1<<shift)])
		for _, e := range pairs {
			par[e&mask] ^= blk[e>>shift]
		}
	case 2:
		par := c.parity[2*base:]
		touched = touch(par[:min(len(par), 2<<shift)])
		for _, e := range pairs {
			j, o := 2*(e&mask), 2*(e>>shift)
			p, b := par[j:j+2:j+2], blk[o:o+2:o+2]
			p[0] ^= b[0]
			p[1] ^= b[1]
		}
	default:
		wd := c.words
		par := c.parity[int(base)*wd:]
		touched = touch(par[:min(len(par), wd<<shift)])
		for _, e := range pairs {
			j, o := int(e&mask)*wd, int(e>>shift)*wd
			xorInto(par[j:j+wd], blk[o:o+wd])
		}
	}
	return touched
}

func (c *Client) initRegularAES(a uint32, blk []uint64, scr []hintScratch) error {
	fr, err := c.reg.prepare(a)
	if err != nil {
		return err
	}
	p := c.p
	m := p.Regular()
	workers := len(scr)
	errs := make([]error, workers)
	per := (m + workers - 1) / workers
	parallel(workers, func(w int) {
		lo, hi := w*per, min(m, (w+1)*per)
		// The AES-PRF asks its keystream for a worker's whole range at
		// once (WebCrypto calls are async and costly).
		buf := scr[w].vals
		if len(buf) < hi-lo {
			buf = make([]uint16, hi-lo)
			scr[w].vals = buf
		}
		if lo >= hi {
			return
		}
		if err := fr.fill(uint32(lo), buf[:hi-lo]); err != nil {
			errs[w] = err
			return
		}
		c.xorMembers(blk, buf[:hi-lo], lo)
	})
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func (c *Client) initBackups(a uint32, blk []uint64, bvals []uint16) error {
	return c.initSides(c.bak, a, blk, bvals, c.bl, c.br)
}

// initSides folds block a into the parities of both sides of Q hints of
// f (backups, checks): side l when F(a, j) < W, else side r.
func (c *Client) initSides(f offsetFunc, a uint32, blk []uint64, vals []uint16, l, r []uint64) error {
	p := c.p
	fb, err := f.prepare(a)
	if err != nil {
		return err
	}
	if err := fb.fill(0, vals); err != nil {
		return err
	}
	logW, wm := uint(p.LogW), uint16(p.W-1)
	for j, v := range vals {
		out := uint64(v>>logW) & 1
		in := out ^ 1
		for k := 0; k < c.words; k++ {
			e := blk[int(v&wm)*c.words+k]
			l[j*c.words+k] ^= e & -in
			r[j*c.words+k] ^= e & -out
		}
	}
	return nil
}

// xorMembers is the hot loop of HintInit: branch-free, each hint j = s+i
// takes block entry vals[i] mod W if the hint's set holds this block.
func (c *Client) xorMembers(blk []uint64, vals []uint16, s int) {
	logW, wm := uint(c.p.LogW), uint16(c.p.W-1)
	if c.words == 1 {
		par := c.parity[s : s+len(vals)]
		for i, v := range vals {
			in := (uint64(v>>logW) & 1) ^ 1
			par[i] ^= blk[v&wm] & -in
		}
		return
	}
	if c.words == 2 { // the deployed keyword entries
		for i, v := range vals {
			in := -((uint64(v>>logW) & 1) ^ 1)
			o := 2 * int(v&wm)
			e := blk[o : o+2 : o+2]
			par := c.parity[2*(s+i) : 2*(s+i)+2 : 2*(s+i)+2]
			par[0] ^= e[0] & in
			par[1] ^= e[1] & in
		}
		return
	}
	wd := c.words
	for i, v := range vals {
		in := -((uint64(v>>logW) & 1) ^ 1)
		e := blk[int(v&wm)*wd : int(v&wm)*wd+wd]
		par := c.parity[(s+i)*wd : (s+i)*wd+wd]
		for k := range par {
			par[k] ^= e[k] & in
		}
	}
}

// Delta is one update: the entry at Index changes by XOR (old XOR new).
type Delta struct {
	Index uint64
	XOR   []byte
}

// ApplyDelta folds one xor-delta into every hint and cached value covering index.
func (c *Client) ApplyDelta(index uint64, xor []byte) error {
	return c.ApplyDeltas([]Delta{{Index: index, XOR: xor}})
}

// ApplyDeltas folds a batch of deltas in, inverting each touched block once.
// Nothing is applied if any delta is invalid.
func (c *Client) ApplyDeltas(ds []Delta) error {
	if err := c.applyDeltas(ds); err != nil {
		c.jr.ok = false // possibly half-applied: only a whole state saves it
		return err
	}
	if c.ready {
		c.logDeltas(ds)
	}
	return nil
}

func (c *Client) applyDeltas(ds []Delta) error {
	p := c.p
	for _, d := range ds {
		if d.Index >= p.N {
			return fmt.Errorf("plinko: delta index %d outside a database of %d entries", d.Index, p.N)
		}
		if len(d.XOR) != p.EntrySize {
			return fmt.Errorf("plinko: delta of %d bytes, want %d", len(d.XOR), p.EntrySize)
		}
	}
	if !c.ready {
		return nil // no hints yet: the next HintInit reads the new database
	}
	// Combine deltas per index, group indices per block.
	byIndex := map[uint64][]uint64{}
	byBlock := map[uint32][]uint32{}
	for _, d := range ds {
		v, ok := byIndex[d.Index]
		if !ok {
			v = make([]uint64, c.words)
			byIndex[d.Index] = v
			a, b := uint32(d.Index/uint64(p.W)), uint32(d.Index%uint64(p.W))
			byBlock[a] = append(byBlock[a], b)
		}
		for k := range v {
			v[k] ^= binary.LittleEndian.Uint64(d.XOR[8*k:])
		}
	}
	blocks := make([]uint32, 0, len(byBlock))
	for a := range byBlock {
		blocks = append(blocks, a)
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i] < blocks[j] })
	w := uint32(p.W)
	var both []uint32
	for _, a := range blocks {
		offs := byBlock[a]
		base := uint64(a) * uint64(w)
		if err := c.reg.preimages(a, offs, func(j, v uint32) bool {
			xorInto(c.parity[int(j)*c.words:][:c.words], byIndex[base+uint64(v)])
			return true
		}); err != nil {
			return fmt.Errorf("plinko: updating regular hints of block %d: %w", a, err)
		}
		both = both[:0]
		for _, b := range offs {
			both = append(both, b, b+w)
		}
		if err := c.bak.preimages(a, both, func(j, v uint32) bool {
			d := byIndex[base+uint64(v&(w-1))]
			upper := v >= w
			switch {
			case int(j) >= c.next: // unused backup
				if upper {
					xorInto(c.br[int(j)*c.words:][:c.words], d)
				} else {
					xorInto(c.bl[int(j)*c.words:][:c.words], d)
				}
			case c.prom[j].x/uint64(w) != uint64(a) && upper == c.prom[j].flip:
				xorInto(c.bl[int(j)*c.words:][:c.words], d)
			}
			return true
		}); err != nil {
			return fmt.Errorf("plinko: updating backup hints of block %d: %w", a, err)
		}
	}
	if err := c.applyCheckDeltas(blocks, byBlock, byIndex); err != nil {
		return err
	}
	for x, d := range byIndex {
		for _, j := range c.promByX[x] {
			if !c.prom[j].owed { // an owed parity gets x's value, current, when filled
				xorInto(c.bl[int(j)*c.words:][:c.words], d)
			}
		}
		if v, ok := c.cache[x]; ok {
			xorInto(v, d)
		}
	}
	return nil
}

// applyCheckDeltas folds the deltas into the check hints' parities (both
// sides: a check compares both answers).
func (c *Client) applyCheckDeltas(blocks []uint32, byBlock map[uint32][]uint32, byIndex map[uint64][]uint64) error {
	w := uint32(c.p.W)
	var both []uint32
	for _, a := range blocks {
		both = both[:0]
		for _, b := range byBlock[a] {
			both = append(both, b, b+w)
		}
		base := uint64(a) * uint64(w)
		if err := c.chk.preimages(a, both, func(j, v uint32) bool {
			d := byIndex[base+uint64(v&(w-1))]
			if v >= w {
				xorInto(c.cr[int(j)*c.words:][:c.words], d)
			} else {
				xorInto(c.cl[int(j)*c.words:][:c.words], d)
			}
			return true
		}); err != nil {
			return fmt.Errorf("plinko: updating check hints of block %d: %w", a, err)
		}
	}
	return nil
}

func xorInto(dst, src []uint64) {
	for k := range dst {
		dst[k] ^= src[k]
	}
}
