package cdn

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"sync"
	"syscall"
)

const (
	// minGzipSize: below this the gzip header costs more than it saves.
	minGzipSize = 256
	// smallGzipMax: files up to this size are compressed in memory.
	smallGzipMax = 1 << 20
	// smallGzipCacheBytes bounds the in-memory compressed copies.
	smallGzipCacheBytes = 64 << 20
	// maxSums bounds the checksum cache (one entry per file version).
	maxSums = 1 << 17
	// gzipPays: a compressed copy is used only if at most this fraction of
	// the original (in percent).
	gzipPays = 90
)

// fileKey identifies one version of a file: an atomic rename gives a new
// inode, a rewrite a new size or modification time.
type fileKey struct {
	name  string
	size  int64
	mtime int64
	ino   uint64
}

func keyOf(name string, fi fs.FileInfo) fileKey {
	k := fileKey{name: name, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.ino = st.Ino
	}
	return k
}

// sumCache remembers the sha256 of each file version, computing each once
// even under concurrent requests.
type sumCache struct {
	mu       sync.Mutex
	sums     map[fileKey][32]byte
	inflight map[fileKey]*sumCall
}

type sumCall struct {
	done chan struct{}
	sum  [32]byte
	err  error
}

func newSumCache() *sumCache {
	return &sumCache{sums: map[fileKey][32]byte{}, inflight: map[fileKey]*sumCall{}}
}

// get returns the sha256 of the open file f (described by fi).
func (c *sumCache) get(name string, f *os.File, fi fs.FileInfo) ([32]byte, error) {
	k := keyOf(name, fi)
	c.mu.Lock()
	if sum, ok := c.sums[k]; ok {
		c.mu.Unlock()
		return sum, nil
	}
	if call, ok := c.inflight[k]; ok {
		c.mu.Unlock()
		<-call.done
		return call.sum, call.err
	}
	call := &sumCall{done: make(chan struct{})}
	c.inflight[k] = call
	c.mu.Unlock()

	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, 0, fi.Size()))
	if err == nil && n != fi.Size() {
		err = fmt.Errorf("file %s shrank while hashing", name)
	}
	if err == nil {
		h.Sum(call.sum[:0])
	}
	call.err = err

	c.mu.Lock()
	delete(c.inflight, k)
	if err == nil {
		if len(c.sums) >= maxSums {
			clear(c.sums) // old versions pile up over time; start over
		}
		c.sums[k] = call.sum
	}
	c.mu.Unlock()
	close(call.done)
	return call.sum, err
}

// smallGzipCache holds gzip copies of small files by content; nil means
// "compression does not pay for this content".
type smallGzipCache struct {
	mu    sync.Mutex
	limit int
	bytes int
	gz    map[[32]byte][]byte
}

func newSmallGzipCache(limit int) *smallGzipCache {
	return &smallGzipCache{limit: limit, gz: map[[32]byte][]byte{}}
}

// get returns the gzip body for the content sum read from f, or nil when
// compressing does not pay.
func (c *smallGzipCache) get(sum [32]byte, f *os.File, size int64) ([]byte, error) {
	c.mu.Lock()
	body, ok := c.gz[sum]
	c.mu.Unlock()
	if ok {
		return body, nil
	}
	raw := make([]byte, size)
	if _, err := f.ReadAt(raw, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading for compression: %w", err)
	}
	if sha256.Sum256(raw) != sum {
		return nil, fmt.Errorf("file changed while compressing")
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(raw)
	zw.Close()
	if buf.Len()*100 <= len(raw)*gzipPays {
		body = buf.Bytes()
	}
	c.mu.Lock()
	if c.bytes+len(body) > c.limit {
		clear(c.gz)
		c.bytes = 0
	}
	c.gz[sum] = body
	c.bytes += len(body)
	c.mu.Unlock()
	return body, nil
}

// gzipStore keeps precompressed copies of large immutable files as
// <name>.gz under its own root. The gzip header's Comment holds
// "sha256:<hex>" of the original, so a .gz of another version is never
// served.
type gzipStore struct {
	src  *os.Root
	dst  *os.Root
	log  *slog.Logger
	sem  chan struct{} // one compression at a time: it is CPU-heavy
	ctx  context.Context
	stop context.CancelFunc

	mu    sync.Mutex
	state map[[32]byte]gzState
}

type gzState struct {
	pending bool
	noPay   bool
}

func newGzipStore(src, dst *os.Root, log *slog.Logger) *gzipStore {
	ctx, stop := context.WithCancel(context.Background())
	return &gzipStore{src: src, dst: dst, log: log, sem: make(chan struct{}, 1),
		ctx: ctx, stop: stop, state: map[[32]byte]gzState{}}
}

func (g *gzipStore) close() {
	g.stop()
	g.dst.Close()
}

func comment(sum [32]byte) string { return "sha256:" + hex.EncodeToString(sum[:]) }

// open returns the precompressed copy of name if it exists and matches sum;
// otherwise it starts making one in the background and reports false.
func (g *gzipStore) open(ctx context.Context, name string, sum [32]byte) (*os.File, int64, bool) {
	g.mu.Lock()
	st := g.state[sum]
	g.mu.Unlock()
	if st.noPay || st.pending {
		return nil, 0, false
	}
	f, err := g.dst.Open(name + ".gz")
	if err == nil {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			zr, err := gzip.NewReader(io.NewSectionReader(f, 0, fi.Size()))
			if err == nil && zr.Comment == comment(sum) {
				return f, fi.Size(), true
			}
		}
		f.Close()
	}
	go g.ensure(g.ctx, name, sum)
	return nil, 0, false
}

// ensure writes name.gz for the content sum if it does not exist yet and
// compression pays; atomic (temp file, fsync, rename, fsync dir).
func (g *gzipStore) ensure(ctx context.Context, name string, sum [32]byte) {
	g.mu.Lock()
	st := g.state[sum]
	if st.pending || st.noPay {
		g.mu.Unlock()
		return
	}
	g.state[sum] = gzState{pending: true}
	g.mu.Unlock()

	noPay, err := g.compress(ctx, name, sum)
	if err != nil && ctx.Err() == nil { // a shutdown mid-compression is no news
		g.log.Warn("precompressing", "file", name, "err", err)
	}
	if err != nil {
		noPay = true // do not retry on every request; a restart retries
	}
	g.mu.Lock()
	g.state[sum] = gzState{noPay: noPay}
	g.mu.Unlock()
}

func (g *gzipStore) compress(ctx context.Context, name string, sum [32]byte) (noPay bool, err error) {
	select {
	case g.sem <- struct{}{}:
		defer func() { <-g.sem }()
	case <-ctx.Done():
		return false, ctx.Err()
	}
	// Already there (from an earlier run)?
	if f, err := g.dst.Open(name + ".gz"); err == nil {
		zr, zerr := gzip.NewReader(f)
		ok := zerr == nil && zr.Comment == comment(sum)
		f.Close()
		if ok {
			return false, nil
		}
	}
	src, err := g.src.Open(name)
	if err != nil {
		return false, fmt.Errorf("opening source: %w", err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return false, fmt.Errorf("stat source: %w", err)
	}
	if dir := path.Dir(name); dir != "." {
		if err := g.dst.MkdirAll(dir, 0o755); err != nil {
			return false, fmt.Errorf("creating %s: %w", dir, err)
		}
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := path.Join(path.Dir(name), "."+path.Base(name)+".gz.tmp-"+hex.EncodeToString(rnd[:]))
	out, err := g.dst.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return false, fmt.Errorf("creating temp file: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			out.Close()
			g.dst.Remove(tmp)
		}
	}()
	zw, _ := gzip.NewWriterLevel(out, gzip.DefaultCompression)
	zw.Comment = comment(sum)
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(zw, h), &ctxReader{ctx: ctx, r: io.NewSectionReader(src, 0, fi.Size())})
	if err != nil {
		return false, fmt.Errorf("compressing: %w", err)
	}
	if err := zw.Close(); err != nil {
		return false, fmt.Errorf("compressing: %w", err)
	}
	if [32]byte(h.Sum(nil)) != sum {
		return false, fmt.Errorf("source changed while compressing")
	}
	ofi, err := out.Stat()
	if err != nil {
		return false, fmt.Errorf("stat compressed: %w", err)
	}
	if ofi.Size()*100 > n*gzipPays {
		g.log.Info("gzip does not pay, serving as is", "file", name, "size", n, "gzip_size", ofi.Size())
		return true, nil
	}
	if err := out.Sync(); err != nil {
		return false, fmt.Errorf("syncing compressed: %w", err)
	}
	if err := out.Close(); err != nil {
		return false, fmt.Errorf("closing compressed: %w", err)
	}
	committed = true
	if err := g.dst.Rename(tmp, name+".gz"); err != nil {
		g.dst.Remove(tmp)
		return false, fmt.Errorf("renaming compressed: %w", err)
	}
	if d, err := g.dst.Open(path.Dir(name)); err == nil {
		d.Sync()
		d.Close()
	}
	g.log.Info("precompressed", "file", name, "size", n, "gzip_size", ofi.Size())
	return false, nil
}

// ctxReader stops a long compression when the server shuts down.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
