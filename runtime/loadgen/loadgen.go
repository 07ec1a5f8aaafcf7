// Package loadgen is a bounded load generator for the pir-server: a fixed
// number of connections send query batches for a fixed duration, to a
// loopback address only, and the latency of every request is recorded.
//
// The queries are well-formed Plinko queries with uniformly random masks and
// offsets. To the server they are indistinguishable from real ones (that is
// the scheme's privacy) and cost exactly the same work, so the load needs no
// client hints; the end-to-end benchmark measures real private lookups.
package loadgen

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/plinko"
)

// Config of one load run.
type Config struct {
	URL      string        // pir-server base URL; the host must be a loopback address
	Params   plinko.Params // the served layout
	Epoch    uint64        // epoch put in the queries (at most the served one)
	Batch    int           // queries per request (4 = one keyword lookup: three positions and the check)
	Conns    int           // concurrent connections
	Duration time.Duration // how long to send
}

// Result of a load run.
type Result struct {
	Requests int           // answered with 200
	Errors   int           // transport errors and non-200 answers
	Elapsed  time.Duration // wall time of the run
	P50, P99 time.Duration // request latency
	Max      time.Duration
}

// PerSecond is the rate of successful requests.
func (r Result) PerSecond() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// Run sends load until cfg.Duration has passed or ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := checkLoopback(cfg.URL); err != nil {
		return Result{}, err
	}
	if cfg.Batch < 1 || cfg.Batch > plinko.MaxBatch || cfg.Conns < 1 || cfg.Duration <= 0 {
		return Result{}, fmt.Errorf("loadgen: batch %d, conns %d, duration %v out of range", cfg.Batch, cfg.Conns, cfg.Duration)
	}
	u, _ := url.Parse(cfg.URL)
	hc := &fasthttp.HostClient{Addr: u.Host, MaxConns: cfg.Conns, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	rng := rand.New(rand.NewPCG(1, 2))
	bodies := make([][]byte, 256)
	for i := range bodies {
		bodies[i] = RandomBatch(cfg.Params, cfg.Epoch, cfg.Batch, rng)
	}
	target := cfg.URL + "/v1/query"

	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	var mu sync.Mutex
	var res Result
	var lat []time.Duration
	var wg sync.WaitGroup
	for w := 0; w < cfg.Conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(target)
			req.Header.SetMethod(fasthttp.MethodPost)
			req.Header.SetContentType("application/octet-stream")
			var mine []time.Duration
			errs := 0
			for i := w; ctx.Err() == nil; i++ {
				req.SetBodyRaw(bodies[i%len(bodies)])
				t0 := time.Now()
				err := hc.Do(req, resp)
				d := time.Since(t0)
				if err != nil || resp.StatusCode() != fasthttp.StatusOK {
					errs++
					continue
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			res.Errors += errs
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Requests = len(lat)
	if len(lat) == 0 {
		return res, errors.New("loadgen: no request succeeded")
	}
	slices.Sort(lat)
	res.P50 = lat[len(lat)/2]
	res.P99 = lat[len(lat)*99/100]
	res.Max = lat[len(lat)-1]
	return res, nil
}

// checkLoopback refuses to send load anywhere but this machine.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return fmt.Errorf("loadgen: %q is not an http:// URL", raw)
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("loadgen: %s is not a loopback address; load runs against 127.0.0.1 or ::1 only", u.Hostname())
	}
	return nil
}

// RandomBatch encodes k well-formed queries for p with random masks and
// offsets (the wire format of plinko.EncodeQueries).
func RandomBatch(p plinko.Params, epoch uint64, k int, rng *rand.Rand) []byte {
	mask := (p.C + 7) / 8
	offs := (p.C*p.LogW + 7) / 8
	size := p.QuerySize()
	h := plinko.BatchHeaderSize
	out := make([]byte, h+k*size)
	plinko.PutBatchHeader(out, k)
	for i := 0; i < k; i++ {
		q := out[h+i*size : h+(i+1)*size]
		q[0], q[1] = 1, byte(p.LogW)
		binary.LittleEndian.PutUint64(q[2:], epoch)
		body := q[10:]
		for j := range body {
			body[j] = byte(rng.Uint32())
		}
		if r := p.C % 8; r != 0 { // no mask bits past the last block
			body[mask-1] &= byte(1)<<r - 1
		}
		if r := (p.C * p.LogW) % 8; r != 0 { // no padding bits after the last offset
			body[mask+offs-1] &= byte(1)<<r - 1
		}
	}
	return out
}

// Discover reads what a load run needs from a running deployment on this
// machine: the layout from the CDN's manifest, the epoch the pir-server
// serves (queries must not be ahead of it).
func Discover(ctx context.Context, cdnURL, pirURL string) (plinko.Params, uint64, error) {
	for _, u := range []string{cdnURL, pirURL} {
		if err := checkLoopback(u); err != nil {
			return plinko.Params{}, 0, err
		}
	}
	raw, err := get(ctx, strings.TrimSuffix(cdnURL, "/")+"/"+dataset.ManifestName)
	if err != nil {
		return plinko.Params{}, 0, err
	}
	m, err := dataset.DecodeManifest(raw)
	if err != nil {
		return plinko.Params{}, 0, fmt.Errorf("loadgen: manifest: %w", err)
	}
	p, err := plinko.NewParams(m.N, int(m.EntrySize))
	if err != nil {
		return plinko.Params{}, 0, fmt.Errorf("loadgen: manifest layout: %w", err)
	}
	raw, err = get(ctx, strings.TrimSuffix(pirURL, "/")+"/v1/epoch")
	if err != nil {
		return plinko.Params{}, 0, err
	}
	var e struct {
		Epoch uint64 `json:"epoch"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return plinko.Params{}, 0, fmt.Errorf("loadgen: pir-server epoch: %w", err)
	}
	return p, e.Epoch, nil
}

func get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("loadgen: GET %s: %s", u, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}
