package pirserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/plinko-pir/plinko/runtime/dataset"
)

// errNoManifest: nothing is published yet (the pipeline is still running).
var errNoManifest = errors.New("no manifest published yet")

// source is where the published dataset comes from: a local directory (the
// one the updater writes) or a CDN. Everything it returns is verified.
type source interface {
	// manifest returns the current manifest and its raw bytes.
	manifest(ctx context.Context) (*dataset.Manifest, []byte, error)
	// head returns the newest published epoch.
	head(ctx context.Context) (*dataset.Head, error)
	// snapshot reads the manifest's snapshot into dst (its exact size),
	// checking size and sha256.
	snapshot(ctx context.Context, m *dataset.Manifest, dst []byte) error
	// delta returns one epoch's delta, its sha256 trailer and epoch checked.
	delta(ctx context.Context, epoch uint64) (*dataset.Delta, error)
	String() string
}

// newSource picks the source from a directory path or an http(s) URL; a
// trailing manifest.json is accepted for either.
func newSource(where string) (source, error) {
	where = strings.TrimSuffix(where, dataset.ManifestName)
	if where == "" {
		return nil, errors.New("pirserver: no dataset source (directory or CDN URL)")
	}
	if strings.HasPrefix(where, "http://") || strings.HasPrefix(where, "https://") {
		return &cdnSource{base: strings.TrimRight(where, "/") + "/", http: &http.Client{Timeout: 10 * time.Minute}}, nil
	}
	if st, err := os.Stat(where); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("pirserver: dataset directory %s: not a directory (%v)", where, err)
	}
	return dirSource{dir: dataset.Dir(where)}, nil
}

type dirSource struct{ dir dataset.Dir }

func (s dirSource) String() string { return string(s.dir) }

func (s dirSource) manifest(context.Context) (*dataset.Manifest, []byte, error) {
	raw, err := os.ReadFile(s.dir.ManifestPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, errNoManifest
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading manifest: %w", err)
	}
	m, err := dataset.DecodeManifest(raw)
	return m, raw, err
}

func (s dirSource) head(context.Context) (*dataset.Head, error) { return s.dir.ReadHead() }

func (s dirSource) snapshot(_ context.Context, m *dataset.Manifest, dst []byte) error {
	f := m.Snapshot()
	file, err := os.Open(s.dir.Path(f.Name))
	if err != nil {
		return fmt.Errorf("opening snapshot: %w", err)
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return fmt.Errorf("reading snapshot: %w", err)
	}
	if uint64(st.Size()) != f.Size {
		return fmt.Errorf("%w: snapshot %s has %d bytes, manifest says %d", dataset.ErrCorrupt, f.Name, st.Size(), f.Size)
	}
	return readVerified(file, f, dst)
}

// readVerified fills dst from r (the snapshot f) and checks that nothing
// follows and that the sha256 matches the manifest's.
func readVerified(r io.Reader, f dataset.File, dst []byte) error {
	want, err := hex.DecodeString(f.SHA256)
	if err != nil || uint64(len(dst)) != f.Size {
		return fmt.Errorf("snapshot %s: bad manifest entry", f.Name)
	}
	h := sha256.New()
	if _, err := io.ReadFull(io.TeeReader(r, h), dst); err != nil {
		return fmt.Errorf("%w: snapshot %s shorter than its %d bytes: %v", dataset.ErrCorrupt, f.Name, f.Size, err)
	}
	if n, _ := r.Read(make([]byte, 1)); n != 0 {
		return fmt.Errorf("%w: snapshot %s longer than its %d bytes", dataset.ErrCorrupt, f.Name, f.Size)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		return fmt.Errorf("%w: snapshot %s sha256 mismatch", dataset.ErrCorrupt, f.Name)
	}
	return nil
}

func (s dirSource) delta(_ context.Context, epoch uint64) (*dataset.Delta, error) {
	return s.dir.ReadDelta(epoch)
}

// cdnSource polls a CDN. manifest.json and head.json are fetched with
// If-None-Match, so an unchanged file costs a 304.
type cdnSource struct {
	base string
	http *http.Client

	mu    sync.Mutex
	cache map[string]cachedFile // by name: last 200 body and its ETag
}

type cachedFile struct {
	etag string
	body []byte
}

// Bounds on what the CDN may send.
const (
	maxDeltaBytes = 256 << 20
	smallTimeout  = 10 * time.Second
)

func (s *cdnSource) String() string { return s.base }

// getSmall fetches a small mutable file, revalidating the cached copy.
func (s *cdnSource) getSmall(ctx context.Context, name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, smallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+name, nil)
	if err != nil {
		return nil, fmt.Errorf("building request for %s: %w", name, err)
	}
	s.mu.Lock()
	prev, ok := s.cache[name]
	s.mu.Unlock()
	if ok {
		req.Header.Set("If-None-Match", prev.etag)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", name, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		if ok {
			return prev.body, nil
		}
		return nil, fmt.Errorf("fetching %s: 304 without a cached copy", name)
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("fetching %s: %w", name, os.ErrNotExist)
	default:
		return nil, fmt.Errorf("fetching %s: HTTP %s", name, resp.Status)
	}
	body, err := readAtMost(resp.Body, dataset.MaxJSONSize)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", name, err)
	}
	if etag := resp.Header.Get("ETag"); etag != "" {
		s.mu.Lock()
		if s.cache == nil {
			s.cache = map[string]cachedFile{}
		}
		s.cache[name] = cachedFile{etag: etag, body: body}
		s.mu.Unlock()
	}
	return body, nil
}

func (s *cdnSource) manifest(ctx context.Context) (*dataset.Manifest, []byte, error) {
	raw, err := s.getSmall(ctx, dataset.ManifestName)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, errNoManifest
	}
	if err != nil {
		return nil, nil, err
	}
	m, err := dataset.DecodeManifest(raw)
	return m, raw, err
}

func (s *cdnSource) head(ctx context.Context) (*dataset.Head, error) {
	raw, err := s.getSmall(ctx, dataset.HeadName)
	if err != nil {
		return nil, err
	}
	return dataset.DecodeHead(raw)
}

func (s *cdnSource) snapshot(ctx context.Context, m *dataset.Manifest, dst []byte) error {
	f := m.Snapshot()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+f.Name, nil)
	if err != nil {
		return fmt.Errorf("building snapshot request: %w", err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("fetching snapshot: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching snapshot %s: HTTP %s", f.Name, resp.Status)
	}
	return readVerified(resp.Body, f, dst)
}

func (s *cdnSource) delta(ctx context.Context, epoch uint64) (*dataset.Delta, error) {
	name := dataset.DeltaName(epoch)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+name, nil)
	if err != nil {
		return nil, fmt.Errorf("building delta request: %w", err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching delta %d: %w", epoch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching delta %d: HTTP %s", epoch, resp.Status)
	}
	raw, err := readAtMost(resp.Body, maxDeltaBytes)
	if err != nil {
		return nil, fmt.Errorf("fetching delta %d: %w", epoch, err)
	}
	d, err := dataset.DecodeDelta(raw)
	if err != nil {
		return nil, fmt.Errorf("delta %d: %w", epoch, err)
	}
	if d.Epoch != epoch {
		return nil, fmt.Errorf("%w: %s holds epoch %d", dataset.ErrCorrupt, name, d.Epoch)
	}
	return d, nil
}

func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}
