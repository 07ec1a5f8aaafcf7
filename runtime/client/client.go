package client

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/keyword"
	"github.com/plinko-pir/plinko/runtime/plinko"
)

// queriesPerLookup is what one keyword lookup costs: one query per cuckoo
// position, always.
const queriesPerLookup = keyword.Ways

// Client is a Plinko PIR client. Its methods are safe for concurrent use;
// Sync and Lookup run one at a time, Status never waits for them.
type Client struct {
	cfg   Config
	http  *http.Client
	rand  io.Reader
	log   *slog.Logger
	store Store

	mu      sync.Mutex // serializes Sync and Lookup; guards s, loaded and chainID
	s       *session   // nil until hints exist
	loaded  bool       // the Store was consulted
	chainID uint64     // the pinned chain; 0 until known

	status     atomic.Pointer[Status]
	progressMu sync.Mutex // serializes OnProgress calls
}

// session is the live state: hints at an epoch, and the manifest they came from.
type session struct {
	manifestRaw []byte
	man         *dataset.Manifest
	kw          keyword.Params
	params      plinko.Params
	pl          *plinko.Client
	epoch       uint64
	block       uint64
	blockHash   [32]byte

	// The journal (JournalStore): records appended after the saved state
	// named base. full: the next save must be a whole state.
	base         [32]byte
	seq          uint32
	journalBytes int
	full         bool
}

// New returns a client; it does no I/O (Sync or Lookup do).
func New(cfg Config) (*Client, error) {
	if cfg.CDN == "" {
		return nil, errors.New("client: Config.CDN is required")
	}
	if cfg.PIR == "" {
		return nil, errors.New("client: Config.PIR is required")
	}
	c := &Client{cfg: cfg, http: cfg.HTTP, rand: cfg.Rand, log: cfg.Logger, store: cfg.Store, chainID: cfg.ChainID}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.store == nil {
		c.store = &MemStore{}
	}
	c.status.Store(&Status{})
	return c, nil
}

// Status returns the client's current state without waiting for a running
// Sync or Lookup.
func (c *Client) Status() Status { return *c.status.Load() }

// progress reports to OnProgress, one call at a time: hints are built by
// several goroutines while the download is counted on another.
func (c *Client) progress(stage string, done, total int64) {
	if c.cfg.OnProgress != nil {
		c.progressMu.Lock()
		defer c.progressMu.Unlock()
		c.cfg.OnProgress(Progress{Stage: stage, Done: done, Total: total})
	}
}

// publish refreshes the Status snapshot from the session.
func (c *Client) publish() {
	st := &Status{}
	if s := c.s; s != nil {
		*st = Status{
			Synced:      true,
			ChainID:     s.man.ChainID,
			Epoch:       s.epoch,
			Block:       s.block,
			BlockHash:   s.blockHash,
			QueriesLeft: s.pl.QueriesLeft(),
			Entries:     s.params.N,
		}
	}
	c.status.Store(st)
}

// Sync brings the hints up to the newest published epoch. The first time
// (or when the published format or parameters changed, the needed deltas
// were pruned, or the queries ran out) it streams the snapshot and builds
// fresh hints; otherwise it applies the missing deltas. State is saved after.
func (c *Client) Sync(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sync(ctx)
}

func (c *Client) sync(ctx context.Context) error {
	if err := c.load(ctx); err != nil {
		return err
	}
	raw, man, err := c.fetchManifest(ctx)
	if err != nil {
		return err
	}
	if c.s != nil && c.s.sameLayout(man) && c.s.pl.QueriesLeft() >= queriesPerLookup {
		head, err := c.fetchHead(ctx)
		if err != nil {
			return err
		}
		switch behind := head.Epoch - c.s.epoch; {
		case head.Epoch <= c.s.epoch:
			return nil
		case c.s.epoch+1 < head.OldestDelta:
			c.log.Info("deltas the hints need were pruned; rebuilding hints from the snapshot",
				"hints_epoch", c.s.epoch, "oldest_delta", head.OldestDelta)
		case man.Epoch > c.s.epoch && behind > maxCatchUpEpochs:
			c.log.Info("hints far behind; rebuilding from the newer snapshot", "hints_epoch", c.s.epoch, "head_epoch", head.Epoch)
		default:
			err := c.catchUp(ctx, head.Epoch)
			if err == nil {
				return c.save(ctx)
			}
			if !errors.Is(err, errDeltaGone) {
				return err
			}
			c.log.Info("a delta the hints need is gone; rebuilding hints from the snapshot")
		}
	}
	return c.rebuild(ctx, raw, man)
}

// maxCatchUpEpochs: hints further behind than this are rebuilt from a newer
// snapshot rather than caught up (about 2000 changed entries per block make
// 2048 deltas weigh about as much as the snapshot at n = 2^23).
const maxCatchUpEpochs = 2048

// errDeltaGone: a delta the hints need is no longer published (pruned).
var errDeltaGone = errors.New("delta no longer published")

// deltaFetchers is how many delta files are fetched at once while catching up.
const deltaFetchers = 8

func (c *Client) fetchHead(ctx context.Context) (*dataset.Head, error) {
	b, err := c.getBytes(ctx, joinURL(c.cfg.CDN, dataset.HeadName), maxHeadSize)
	if err != nil {
		return nil, fmt.Errorf("fetching head: %w", err)
	}
	head, err := dataset.DecodeHead(b)
	if err != nil {
		return nil, fmt.Errorf("parsing head: %w", err)
	}
	if err := c.checkChain("head.json", head.ChainID); err != nil {
		return nil, err
	}
	return head, nil
}

// checkChain refuses published data of another chain than the pinned one,
// pinning the first chain seen when nothing is pinned yet.
func (c *Client) checkChain(what string, id uint64) error {
	if c.chainID == 0 {
		c.chainID = id
		c.log.Debug("pinned the chain of the deployment", "chain_id", id)
		return nil
	}
	if id != c.chainID {
		return fmt.Errorf("%s at %s is of chain %d, this client is pinned to chain %d: %w", what, c.cfg.CDN, id, c.chainID, ErrWrongChain)
	}
	return nil
}

// load reads the saved state once. State that fails to verify or no longer
// parses is dropped (hints are rebuilt with a fresh key, so nothing consumed
// can be reused).
func (c *Client) load(ctx context.Context) error {
	if c.loaded {
		return nil
	}
	b, err := c.store.Load(ctx)
	if err != nil && !errors.Is(err, ErrCorruptState) {
		return fmt.Errorf("loading client state: %w", err)
	}
	c.loaded = true
	if err != nil {
		c.log.Warn("discarding saved client state", "err", err)
		return nil
	}
	if b == nil {
		return nil
	}
	s, err := restore(b, c.plinkoOptions()...)
	if err == nil {
		err = c.replayJournal(ctx, s)
	}
	if err != nil {
		c.log.Warn("discarding saved client state", "err", err)
		return nil
	}
	// The saved state pins its chain; a configured chain it contradicts
	// means the deployment served another chain before: refuse, keep it.
	if err := c.checkChain("the saved state", s.man.ChainID); err != nil {
		c.loaded = false
		return err
	}
	c.s = s
	c.publish()
	return nil
}

// replayJournal applies the records appended after the saved state. Records
// of an older state (a crash between a whole save and clearing the journal)
// are skipped; a record of this state that is missing, damaged or does not
// apply fails the whole state, since hints its queries consumed could
// otherwise be used again.
func (c *Client) replayJournal(ctx context.Context, s *session) error {
	js, ok := c.store.(JournalStore)
	if !ok {
		return nil
	}
	recs, err := js.Journal(ctx)
	if err != nil {
		return fmt.Errorf("reading the journal: %w", err)
	}
	for _, b := range recs {
		r, err := unmarshalJournalRecord(b)
		if err != nil {
			return err
		}
		if r.Base != s.base {
			s.full = true // stale records: the next save rewrites and clears them
			continue
		}
		if r.Seq != s.seq {
			return fmt.Errorf("journal record %d where %d was due: %w", r.Seq, s.seq, ErrCorruptState)
		}
		if err := s.pl.ApplyJournal(r.Plinko); err != nil {
			return fmt.Errorf("replaying journal record %d: %w: %w", r.Seq, err, ErrCorruptState)
		}
		if s.pl.Epoch() != r.Epoch {
			return fmt.Errorf("journal record %d: hints at epoch %d, record says %d: %w", r.Seq, s.pl.Epoch(), r.Epoch, ErrCorruptState)
		}
		s.epoch, s.block, s.blockHash = r.Epoch, r.Block, r.BlockHash
		s.seq++
		s.journalBytes += len(b)
	}
	return nil
}

func restore(b []byte, opts ...plinko.ClientOption) (*session, error) {
	saved, err := unmarshalState(b)
	if err != nil {
		return nil, err
	}
	man, err := dataset.DecodeManifest(saved.Manifest)
	if err != nil {
		return nil, fmt.Errorf("saved manifest: %w: %w", err, ErrCorruptState)
	}
	s, err := newSession(saved.Manifest, man, 0)
	if err != nil {
		return nil, fmt.Errorf("saved manifest: %w: %w", err, ErrCorruptState)
	}
	pl, err := plinko.LoadClient(saved.Hints, opts...)
	if err != nil {
		return nil, fmt.Errorf("saved hints: %w: %w", err, ErrCorruptState)
	}
	if !sameLayout(pl.Params(), s.params) || pl.Epoch() != saved.Epoch || !pl.Ready() {
		return nil, fmt.Errorf("saved hints do not match the saved manifest and epoch: %w", ErrCorruptState)
	}
	s.pl = pl
	s.epoch, s.block, s.blockHash = saved.Epoch, saved.Block, saved.BlockHash
	s.base = saved.id
	return s, nil
}

// newSession checks that a manifest is one this client can use and derives
// the scheme and keyword parameters from it.
func newSession(raw []byte, man *dataset.Manifest, backups int) (*session, error) {
	kw, err := man.Keyword.Params()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrIncompatible)
	}
	params, err := plinkoParams(man, backups)
	if err != nil {
		return nil, err
	}
	return &session{manifestRaw: raw, man: man, kw: kw, params: params}, nil
}

// plinkoParams derives the scheme parameters of a manifest's database and
// checks that they lay it out as the manifest says.
func plinkoParams(man *dataset.Manifest, backups int) (plinko.Params, error) {
	var opts []plinko.Option
	if backups > 0 {
		opts = append(opts, plinko.WithBackups(backups))
	}
	params, err := plinko.NewParams(man.N, int(man.EntrySize), opts...)
	if err != nil {
		return plinko.Params{}, fmt.Errorf("scheme parameters for n=%d: %w: %w", man.N, err, ErrIncompatible)
	}
	if uint64(params.W) != man.W || uint64(params.C) != man.C {
		return plinko.Params{}, fmt.Errorf("manifest lays out %d blocks of %d entries, this client %d of %d: %w",
			man.C, man.W, params.C, params.W, ErrIncompatible)
	}
	return params, nil
}

// sameLayout reports whether two parameter sets lay the database out alike
// (the hint budget, lambda and offset function are the client's own).
func sameLayout(a, b plinko.Params) bool {
	return a.N == b.N && a.EntrySize == b.EntrySize && a.W == b.W && a.C == b.C
}

// plinkoOptions are the options every plinko client of c gets.
func (c *Client) plinkoOptions() []plinko.ClientOption {
	opts := []plinko.ClientOption{plinko.WithRand(c.rand), plinko.WithWorkers(c.cfg.Workers)}
	if c.cfg.Keystream != nil {
		opts = append(opts, plinko.WithKeystream(streamKeystream(c.cfg.Keystream)))
	}
	return opts
}

// sameLayout reports whether hints built for s still index the database of man.
func (s *session) sameLayout(man *dataset.Manifest) bool {
	kw, err := man.Keyword.Params()
	return err == nil && kw == s.kw && man.FormatVersion == s.man.FormatVersion &&
		man.N == s.man.N && man.W == s.man.W && man.C == s.man.C && man.EntrySize == s.man.EntrySize
}

func (c *Client) fetchManifest(ctx context.Context) ([]byte, *dataset.Manifest, error) {
	raw, err := c.getBytes(ctx, joinURL(c.cfg.CDN, dataset.ManifestName), maxManifestSize)
	if err != nil {
		return nil, nil, fmt.Errorf("fetching manifest: %w", err)
	}
	man, err := dataset.DecodeManifest(raw)
	if errors.Is(err, dataset.ErrFormatVersion) {
		return nil, nil, fmt.Errorf("parsing manifest: %w: %w", err, ErrIncompatible)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("parsing manifest: %w", err)
	}
	if err := c.checkChain("manifest.json", man.ChainID); err != nil {
		return nil, nil, err
	}
	return raw, man, nil
}

// rebuild streams the snapshot named by man into fresh hints (fresh key),
// verifying size and sha256 while streaming, then catches up to the head.
// If the snapshot fails, the previous session is left as it was; once the
// hints are built they replace it (and are saved) even if catching up fails.
func (c *Client) rebuild(ctx context.Context, raw []byte, man *dataset.Manifest) error {
	s, err := newSession(raw, man, c.cfg.Backups)
	if err != nil {
		return err
	}
	pl, err := plinko.NewClient(s.params, c.rand, c.plinkoOptions()...)
	if err != nil {
		return fmt.Errorf("creating hints: %w", err)
	}
	snap := man.Snapshot()
	size := int64(snap.Size)
	want, err := hex.DecodeString(snap.SHA256)
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("manifest snapshot sha256 %q is not hex", snap.SHA256)
	}
	snapURL := joinURL(c.cfg.CDN, snap.Name)
	resp, err := c.get(ctx, snapURL)
	if err != nil {
		return fmt.Errorf("downloading snapshot: %w", err)
	}
	body := c.resumable(ctx, snapURL, resp)
	defer body.Close()
	vr := &verifyingReader{r: body, h: sha256.New(), tee: c.cfg.SnapshotTee, limit: size,
		onRead: func(n int64) { c.progress(StageDownload, n, size) }}
	c.progress(StageDownload, 0, size)
	err = pl.HintInit(vr, func(done, total uint64) { c.progress(StageHints, int64(done), int64(total)) })
	if err != nil {
		if vr.err != nil {
			return vr.err
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("snapshot ended after %d of the manifest's %d bytes: %w", vr.n, size, ErrSnapshotChecksum)
		}
		return fmt.Errorf("building hints from snapshot: %w", err)
	}
	if err := vr.finish([32]byte(want)); err != nil {
		return err
	}
	pl.SetEpoch(man.Epoch)
	s.pl = pl
	s.epoch, s.block, s.blockHash = man.Epoch, man.BlockNumber, [32]byte(man.BlockHash)
	// The new hints are valid at the snapshot's epoch: keep and save them
	// even if catching up fails now (a later Sync or Lookup retries).
	c.s = s
	head, errCatchUp := c.fetchHead(ctx)
	if errCatchUp == nil {
		errCatchUp = c.catchUp(ctx, head.Epoch)
	}
	if err := c.save(ctx); err != nil {
		return err
	}
	return errCatchUp
}

// catchUp applies the deltas that bring the hints to target, fetching a few
// ahead concurrently and applying them in order. A missing delta is
// errDeltaGone (pruned).
func (c *Client) catchUp(ctx context.Context, target uint64) error {
	s := c.s
	if target <= s.epoch {
		return nil
	}
	from, total := s.epoch+1, int64(target-s.epoch)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type fetched struct {
		d   *dataset.Delta
		err error
	}
	// Each epoch gets a channel; the channels queue in epoch order, and the
	// queue's capacity bounds how many deltas are fetched ahead.
	queue := make(chan chan fetched, deltaFetchers)
	go func() {
		defer close(queue)
		for e := from; e <= target; e++ {
			ch := make(chan fetched, 1)
			select {
			case queue <- ch:
			case <-ctx.Done():
				return
			}
			go func() {
				d, err := c.fetchDelta(ctx, e)
				ch <- fetched{d, err}
			}()
		}
	}()
	var done int64
	c.progress(StageDeltas, 0, total)
	for ch := range queue {
		f := <-ch
		if f.err != nil {
			return f.err
		}
		if err := c.applyDelta(f.d); err != nil {
			return err
		}
		done++
		c.progress(StageDeltas, done, total)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.publish()
	return nil
}

func (c *Client) fetchDelta(ctx context.Context, epoch uint64) (*dataset.Delta, error) {
	name := dataset.DeltaName(epoch)
	b, err := c.getBytes(ctx, joinURL(c.cfg.CDN, name), maxDeltaSize)
	if errors.Is(err, errNotFound) {
		return nil, fmt.Errorf("fetching delta for epoch %d: %w: %w", epoch, err, errDeltaGone)
	}
	if err != nil {
		return nil, fmt.Errorf("fetching delta for epoch %d: %w", epoch, err)
	}
	d, err := dataset.DecodeDelta(b)
	if err != nil {
		return nil, fmt.Errorf("delta for epoch %d: %w", epoch, err)
	}
	if err := c.checkChain(name, d.ChainID); err != nil {
		return nil, err
	}
	if d.Epoch != epoch {
		return nil, fmt.Errorf("delta file %s holds epoch %d", name, d.Epoch)
	}
	return d, nil
}

// applyDelta folds one verified delta into the hints. Every record is
// checked before any is applied, so a bad delta changes nothing.
func (c *Client) applyDelta(d *dataset.Delta) error {
	s := c.s
	if d.Epoch != s.epoch+1 {
		return fmt.Errorf("delta for epoch %d cannot follow epoch %d", d.Epoch, s.epoch)
	}
	if d.EntrySize != s.params.EntrySize {
		return fmt.Errorf("delta for epoch %d has entry size %d, want %d", d.Epoch, d.EntrySize, s.params.EntrySize)
	}
	ds := make([]plinko.Delta, len(d.Records))
	for i, r := range d.Records {
		if r.Index >= s.params.N {
			return fmt.Errorf("delta for epoch %d touches index %d beyond the database (%d)", d.Epoch, r.Index, s.params.N)
		}
		ds[i] = plinko.Delta{Index: r.Index, XOR: r.XOR}
	}
	if err := s.pl.ApplyDeltas(ds); err != nil {
		return fmt.Errorf("applying delta for epoch %d: %w", d.Epoch, err)
	}
	s.pl.SetEpoch(d.Epoch)
	s.epoch, s.block, s.blockHash = d.Epoch, d.BlockNumber, [32]byte(d.BlockHash)
	return nil
}

// save persists the session. Called before every query is sent, so hints
// that a query consumed are never reused after a crash. With a JournalStore
// it appends the changes since the last save (a lookup: a few hundred
// bytes); the whole state is written when the journal cannot hold them
// (fresh hints) or has grown past maxJournalBytes.
func (c *Client) save(ctx context.Context) error {
	s := c.s
	js, ok := c.store.(JournalStore)
	if !ok || s.full || s.journalBytes >= maxJournalBytes {
		return c.saveFull(ctx)
	}
	rec, ok := s.pl.TakeJournal()
	if !ok {
		return c.saveFull(ctx)
	}
	if rec == nil {
		c.publish()
		return nil
	}
	r := journalRecord{Base: s.base, Seq: s.seq, Epoch: s.epoch, Block: s.block, BlockHash: s.blockHash, Plinko: rec}
	b := r.marshal()
	if s.journalBytes+len(b) > maxJournalBytes {
		return c.saveFull(ctx) // the whole state holds these changes too
	}
	if err := js.Append(ctx, b); err != nil {
		s.full = true // the changes taken are only in memory now
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	s.seq++
	s.journalBytes += len(b)
	c.publish()
	return nil
}

// maxJournalBytes bounds the journal between whole saves, and with it the
// replay on load (mostly delta batches: about 24 bytes per changed entry).
var maxJournalBytes = 1 << 20 // a var so that tests can force compaction

// saveFull writes the whole state; the journal restarts after it.
func (c *Client) saveFull(ctx context.Context) error {
	s := c.s
	hints, err := s.pl.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encoding hints: %w", err)
	}
	st := savedState{Manifest: s.manifestRaw, Epoch: s.epoch, Block: s.block, BlockHash: s.blockHash, Hints: hints}
	if err := c.store.Save(ctx, st.marshal()); err != nil {
		s.full = true
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	s.pl.Checkpoint()
	s.base, s.seq, s.journalBytes, s.full = st.id, 0, 0, false
	c.publish()
	return nil
}

// verifyingReader hashes and counts what it passes on and refuses to pass
// on more than limit bytes; finish checks the total against the manifest.
type verifyingReader struct {
	r io.Reader
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	tee    io.Writer
	limit  int64
	n      int64
	err    error
	onRead func(int64)
	// reported is the count last passed to onRead.
	reported int64
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	if n > 0 {
		v.n += int64(n)
		if v.n > v.limit {
			v.err = fmt.Errorf("snapshot is longer than the manifest's %d bytes: %w", v.limit, ErrSnapshotChecksum)
			return 0, v.err
		}
		v.h.Write(p[:n])
		if v.tee != nil {
			if _, werr := v.tee.Write(p[:n]); werr != nil {
				v.err = fmt.Errorf("snapshot tee: %w", werr)
				return 0, v.err
			}
		}
		// Report about every MiB (and the end): enough for a smooth bar,
		// few enough calls to cross into JavaScript cheaply.
		if v.n-v.reported >= 1<<20 || v.n == v.limit {
			v.reported = v.n
			v.onRead(v.n)
		}
	}
	if err != nil && err != io.EOF {
		v.err = fmt.Errorf("downloading snapshot: %w", err)
		return n, v.err
	}
	return n, err
}

// finish drains what is left (a snapshot may carry bytes the scheme does not
// read) and compares size and sha256 with the manifest.
func (v *verifyingReader) finish(want [32]byte) error {
	if _, err := io.Copy(io.Discard, v); err != nil {
		return err
	}
	if v.n != v.limit {
		return fmt.Errorf("snapshot has %d bytes, the manifest says %d: %w", v.n, v.limit, ErrSnapshotChecksum)
	}
	var got [32]byte
	copy(got[:], v.h.Sum(nil))
	if got != want {
		return fmt.Errorf("snapshot sha256 %x, the manifest says %x: %w", got, want, ErrSnapshotChecksum)
	}
	return nil
}

// streamKeystream adapts a cipher.Stream factory (Config.Keystream) to
// plinko.Keystream.
type streamKeystream func(key, iv []byte) (cipher.Stream, error)

func (f streamKeystream) Fill(key []byte, iv [16]byte, dst []byte) error {
	st, err := f(key, iv[:])
	if err != nil {
		return fmt.Errorf("keystream: %w", err)
	}
	if r, ok := st.(io.Reader); ok {
		_, err := io.ReadFull(r, dst)
		return err
	}
	clear(dst)
	st.XORKeyStream(dst, dst)
	return nil
}
