package loadgen

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/keyword"
	"github.com/plinko-pir/plinko/runtime/pirserver"
	"github.com/plinko-pir/plinko/runtime/plinko"
)

// deployment is a published random database of n 16-byte entries served by
// a real pir-server on 127.0.0.1.
type deployment struct {
	params plinko.Params
	db     []byte // padded
	epoch  uint64
	url    string
	dir    string // the published dataset
}

// deploy publishes and serves n entries; n is rounded down to a multiple of
// 3 (the keyword table's ways), so "2^23" is 8,388,606 entries (same W, C).
func deploy(tb testing.TB, n uint64) *deployment { return deployOpt(tb, n, true) }

// deployOpt publishes n entries and, with serve, serves them in-process.
func deployOpt(tb testing.TB, n uint64, serve bool) *deployment {
	tb.Helper()
	n -= n % 3
	p, err := plinko.NewParams(n, keyword.EntrySize)
	if err != nil {
		tb.Fatal(err)
	}
	d := &deployment{params: p, db: make([]byte, p.DBSize()), epoch: 1}
	rand.NewChaCha8([32]byte{9}).Read(d.db[:n*keyword.EntrySize])
	dir := dataset.Dir(tb.TempDir())
	f, err := dir.WriteSnapshot(d.db[:n*keyword.EntrySize], uint64(p.DBSize())-n*keyword.EntrySize)
	if err != nil {
		tb.Fatal(err)
	}
	kp := keyword.Params{TableSize: n}
	crand.Read(kp.Seed[:])
	m := &dataset.Manifest{FormatVersion: dataset.FormatVersion, ChainID: 1337, Epoch: d.epoch, BlockNumber: d.epoch,
		N: n, W: uint64(p.W), C: uint64(p.C), EntrySize: keyword.EntrySize, Keyword: dataset.KeywordOf(kp), Files: []dataset.File{f}}
	if err := dir.WriteManifest(m); err != nil {
		tb.Fatal(err)
	}
	d.dir = string(dir)
	if !serve {
		return d
	}
	s, err := pirserver.New(pirserver.Config{Source: string(dir)})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ctx, ln) }()
	tb.Cleanup(func() { cancel(); <-done })
	d.url = "http://" + ln.Addr().String()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, ok := s.Current(); ok {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatal("pir-server never loaded the snapshot")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

func TestRandomBatchIsWellFormed(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []uint64{1, 100, 5000, 1 << 16, 123457} {
		p, err := plinko.NewParams(n, keyword.EntrySize)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []int{1, 2, 4, 61, plinko.MaxBatch} {
			qs, err := plinko.DecodeQueries(p, RandomBatch(p, 5, k, rng))
			if err != nil || len(qs) != k || qs[0].Epoch != 5 {
				t.Fatalf("n=%d k=%d: %v", n, k, err)
			}
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, u := range []string{"http://10.0.0.1:8082", "http://example.com", "https://127.0.0.1", "ftp://[::1]"} {
		if err := checkLoopback(u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8082", "http://[::1]:1"} {
		if err := checkLoopback(u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}

// TestDiscover: the layout comes from the published manifest, the epoch
// from the pir-server; both must be on this machine.
func TestDiscover(t *testing.T) {
	d := deploy(t, 4096)
	files := httptest.NewServer(http.FileServer(http.Dir(d.dir)))
	defer files.Close()
	p, epoch, err := Discover(context.Background(), files.URL, d.url)
	if err != nil {
		t.Fatal(err)
	}
	if p != d.params || epoch != d.epoch {
		t.Fatalf("discovered %+v at epoch %d, want %+v at %d", p, epoch, d.params, d.epoch)
	}
	if _, _, err := Discover(context.Background(), "http://10.0.0.1:8081", d.url); err == nil {
		t.Fatal("a CDN off this machine was accepted")
	}
}

// A short, small run: every request is answered and the numbers add up.
func TestShortRun(t *testing.T) {
	d := deploy(t, 4096)
	res, err := Run(context.Background(), Config{URL: d.url, Params: d.params, Epoch: d.epoch, Batch: lookupQueries, Conns: 2, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Requests < 10 || res.P50 <= 0 || res.P99 < res.P50 {
		t.Fatalf("%+v", res)
	}
}

func loadSeconds() time.Duration {
	if s, err := strconv.Atoi(os.Getenv("PLINKO_LOAD_SECONDS")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 10 * time.Second
}

// lookupQueries is what runtime/client sends per lookup: the three keyword
// positions and plinko.ChecksPerBatch check queries.
const lookupQueries = 3 + plinko.ChecksPerBatch

// BenchmarkPIRServerLoad: the load generator against a pir-server on
// loopback at n = 2^23 entries of 16 bytes, one lookup (lookupQueries) per
// request, for a fixed duration (PLINKO_LOAD_SECONDS, default 10). Both run
// in this process on the same cores. Run with -benchtime=1x.
func BenchmarkPIRServerLoad(b *testing.B) {
	d := deploy(b, 1<<23)
	for _, conns := range []int{4, 16} {
		b.Run(fmt.Sprintf("n=2^23/entry=16B/conns=%d", conns), func(b *testing.B) {
			var last Result
			cpu0 := cpuTime()
			for range b.N {
				res, err := Run(context.Background(), Config{URL: d.url, Params: d.params, Epoch: d.epoch, Batch: lookupQueries, Conns: conns, Duration: loadSeconds()})
				if err != nil {
					b.Fatal(err)
				}
				last = res
			}
			b.ReportMetric(last.PerSecond(), "lookups/s")
			b.ReportMetric(3*last.PerSecond(), "queries/s")
			b.ReportMetric(float64(last.P50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(last.P99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(last.Errors), "errors")
			// Server and load generator together, per CPU-second used.
			b.ReportMetric(float64(last.Requests)/(cpuTime()-cpu0).Seconds()*float64(b.N), "lookups/cpu-s")
		})
	}
}

// TestMain lets the load benchmark run the pir-server in a child process
// (this test binary, PLINKO_LOADGEN_SERVE=dir), so that the server's own
// CPU time can be read from /proc.
func TestMain(m *testing.M) {
	if dir := os.Getenv("PLINKO_LOADGEN_SERVE"); dir != "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("http://" + ln.Addr().String())
		s, err := pirserver.New(pirserver.Config{Source: dir})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() { io.Copy(io.Discard, os.Stdin); cancel() }() // parent gone: stop
		s.Serve(ctx, ln)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serverProcess starts the pir-server over d's dataset in a child process
// and returns its URL and a function reading its CPU time.
func serverProcess(b *testing.B, d *deployment) (string, func() time.Duration) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PLINKO_LOADGEN_SERVE="+d.dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	url := strings.TrimSpace(line)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("child pir-server never became ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	pid := cmd.Process.Pid
	return url, func() time.Duration {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatal(err)
		}
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)        // utime, field 14 of stat
		st, _ := strconv.ParseInt(f[12], 10, 64)        // stime, field 15
		return time.Duration(ut+st) * time.Second / 100 // USER_HZ
	}
}

// BenchmarkPIRServerProcessLoad: the load generator (this process) against
// a pir-server in its own process on loopback, n = 2^23 entries of 16
// bytes, one lookup (lookupQueries) per request, fixed duration. Reports the
// server process's lookups per CPU-second (HTTP included): on a machine
// where the server has 2 free cores, it answers about twice that.
func BenchmarkPIRServerProcessLoad(b *testing.B) {
	d := deployOpt(b, 1<<23, false)
	url, serverCPU := serverProcess(b, d)
	for _, conns := range []int{4, 16} {
		b.Run(fmt.Sprintf("n=2^23/entry=16B/conns=%d", conns), func(b *testing.B) {
			var last Result
			c0 := serverCPU()
			for range b.N {
				res, err := Run(context.Background(), Config{URL: url, Params: d.params, Epoch: d.epoch, Batch: lookupQueries, Conns: conns, Duration: loadSeconds()})
				if err != nil {
					b.Fatal(err)
				}
				last = res
			}
			cpu := serverCPU() - c0
			b.ReportMetric(last.PerSecond(), "lookups/s")
			b.ReportMetric(float64(last.P50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(last.P99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(last.Errors), "errors")
			b.ReportMetric(float64(last.Requests*b.N)/cpu.Seconds(), "server-lookups/cpu-s")
		})
	}
}

// BenchmarkPrivateLookup: end-to-end private lookups with a real Plinko
// client against the pir-server at n = 2^23 (16-byte entries): 3 queries
// and the check built from hints (plinko.Batch), one POST, decode,
// reconstruct and verify. The hints are built once
// (not timed). Reports the p50 and p99 of single lookups, one at a time.
func BenchmarkPrivateLookup(b *testing.B) {
	d := deploy(b, 1<<23)
	cl, err := plinko.NewClient(d.params, crand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := cl.HintInit(bytes.NewReader(d.db), nil); err != nil {
		b.Fatal(err)
	}
	hintTime := time.Since(start)
	cl.SetEpoch(d.epoch)
	hc := &http.Client{Timeout: 10 * time.Second}
	rng := rand.New(rand.NewPCG(5, 6))
	var lat []time.Duration
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		if cl.QueriesLeft() < 3 {
			b.StopTimer()
			if err := cl.HintInit(bytes.NewReader(d.db), nil); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		idx := []uint64{rng.Uint64N(d.params.N), rng.Uint64N(d.params.N), rng.Uint64N(d.params.N)}
		t0, c0 := time.Now(), cpuTime()
		batch, err := cl.Batch(idx) // the three queries and the check, as runtime/client sends them
		if err != nil {
			b.Fatal(err)
		}
		body, err := plinko.EncodeQueries(batch.Queries)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := hc.Post(d.url+pirserver.QueryPath, "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		as, err := plinko.DecodeAnswers(d.params, raw)
		if err != nil {
			b.Fatal(err)
		}
		vs, err := cl.ReconstructBatch(batch, as)
		if err != nil {
			b.Fatal(err)
		}
		for i, x := range idx {
			e := keyword.EntrySize
			if !bytes.Equal(vs[i], d.db[x*uint64(e):(x+1)*uint64(e)]) {
				b.Fatalf("wrong entry %d", x)
			}
		}
		lat = append(lat, time.Since(t0))
		cpu += cpuTime() - c0
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(hintTime.Seconds(), "hintinit-s")
	// CPU of client and server together per lookup: what the latency would
	// be on idle cores (the p50 above includes waiting for a busy machine).
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/lookup")
}

// BenchmarkAnswerBatch: the server's work for one lookup (decode 4 queries,
// answer, encode) without HTTP, at n = 2^23 entries of 16 bytes, on all
// cores (RunParallel), with the database on ordinary 4 KiB pages and on
// transparent huge pages (what the pir-server uses on Linux).
func BenchmarkAnswerBatch(b *testing.B) {
	n := uint64(1<<23) - (1<<23)%3
	p, err := plinko.NewParams(n, keyword.EntrySize)
	if err != nil {
		b.Fatal(err)
	}
	for _, pages := range []string{"4k", "huge"} {
		b.Run("n=2^23/entry=16B/pages="+pages, func(b *testing.B) {
			db := make([]byte, p.DBSize())
			if pages == "huge" {
				if db, err = syscall.Mmap(-1, 0, p.DBSize(), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS); err != nil {
					b.Fatal(err)
				}
				defer syscall.Munmap(db)
				if err := syscall.Madvise(db, syscall.MADV_HUGEPAGE); err != nil {
					b.Skip("no transparent huge pages:", err)
				}
			}
			rand.NewChaCha8([32]byte{9}).Read(db[:n*keyword.EntrySize])
			srv, err := plinko.NewServer(p, db)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			bodies := make([][]byte, 256)
			for i := range bodies {
				bodies[i] = RandomBatch(p, 1, lookupQueries, rng)
			}
			b.ResetTimer()
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					qs, err := plinko.DecodeQueries(p, bodies[i%len(bodies)])
					if err != nil {
						b.Error(err)
						return
					}
					as := make([]*plinko.Answer, len(qs))
					for j, q := range qs {
						if as[j], err = srv.Answer(q, 1); err != nil {
							b.Error(err)
							return
						}
					}
					if _, err := plinko.EncodeAnswers(as); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
			b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "lookups/cpu-s")
		})
	}
}

// cpuTime is the CPU time this process used so far (user + system). On a
// shared machine, work per CPU-second says more than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
