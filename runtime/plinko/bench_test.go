package plinko

import (
	"bytes"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/plinko-pir/plinko/runtime/keyword"
)

// The benchmarks run the workload: n = 2^23 entries of 8 bytes,
// lambda = 128, default q, one core unless the name says workers=2.
// PLINKO_BENCH_N overrides n (a quicker run on a busy machine).
var benchN = benchSize()

func benchSize() uint64 {
	if n, err := strconv.ParseUint(os.Getenv("PLINKO_BENCH_N"), 0, 64); err == nil && n > 0 {
		return n
	}
	return 1 << 23
}

// deployedEntry is the entry size of the *Deployed benchmarks: the keyword
// table's (24 bytes: 96-bit tag, 96-bit wei). PLINKO_BENCH_ENTRY overrides
// it, to compare with another layout (16: the gwei entries before).
var deployedEntry = benchEntry()

func benchEntry() int {
	if e, err := strconv.Atoi(os.Getenv("PLINKO_BENCH_ENTRY")); err == nil && e > 0 {
		return e
	}
	return keyword.EntrySize
}

var benchKinds = []OffsetKind{OffsetIPRF, OffsetAESScan}

type benchEnv struct {
	p     Params
	db    []byte
	srv   *Server
	cl    *Client
	state []byte
}

var (
	benchMu   sync.Mutex
	benchEnvs = map[OffsetKind]*benchEnv{}
	benchDB   []byte
)

func getBenchEnv(b *testing.B, k OffsetKind) *benchEnv {
	benchMu.Lock()
	defer benchMu.Unlock()
	if e, ok := benchEnvs[k]; ok {
		return e
	}
	p, err := NewParams(benchN, 8, WithOffsets(k))
	if err != nil {
		b.Fatal(err)
	}
	if benchDB == nil {
		benchDB = make([]byte, p.DBSize())
		mrand.NewChaCha8([32]byte{42}).Read(benchDB[:benchN*8])
	}
	e := newBenchEnv(b, p, bytes.Clone(benchDB))
	benchEnvs[k] = e
	return e
}

// newBenchEnv is a server over db and a client with hints built from it.
func newBenchEnv(b *testing.B, p Params, db []byte) *benchEnv {
	srv, err := NewServer(p, db)
	if err != nil {
		b.Fatal(err)
	}
	cl, err := NewClient(p, seedReader{mrand.NewChaCha8([32]byte{7})})
	if err != nil {
		b.Fatal(err)
	}
	if err := cl.HintInit(bytes.NewReader(db), nil); err != nil {
		b.Fatal(err)
	}
	st, err := cl.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	return &benchEnv{p: p, db: db, srv: srv, cl: cl, state: st}
}

func BenchmarkPlinkoHintInit(b *testing.B) {
	for _, k := range benchKinds {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%v/workers=%d", k, workers), func(b *testing.B) {
				p, err := NewParams(benchN, 8, WithOffsets(k))
				if err != nil {
					b.Fatal(err)
				}
				benchMu.Lock()
				if benchDB == nil {
					benchDB = make([]byte, p.DBSize())
					mrand.NewChaCha8([32]byte{42}).Read(benchDB[:benchN*8])
				}
				db := benchDB
				benchMu.Unlock()
				cl, err := NewClient(p, seedReader{mrand.NewChaCha8([32]byte{7})}, WithWorkers(workers))
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(p.DBSize()))
				b.ResetTimer()
				c0 := cpuTime()
				for range b.N {
					if err := cl.HintInit(bytes.NewReader(db), nil); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				reportCPU(b, c0)
				st, _ := cl.MarshalBinary()
				b.ReportMetric(float64(len(st)), "state-bytes")
				b.ReportMetric(float64(p.W), "W")
				b.ReportMetric(float64(p.C), "C")
				b.ReportMetric(float64(p.Q), "q")
			})
		}
	}
}

// BenchmarkPlinkoHintInitDeployed is HintInit for the deployed keyword
// entries (deployedEntry bytes) with the default offset function.
func BenchmarkPlinkoHintInitDeployed(b *testing.B) {
	p, err := NewParams(benchN, deployedEntry)
	if err != nil {
		b.Fatal(err)
	}
	db := make([]byte, p.DBSize())
	mrand.NewChaCha8([32]byte{43}).Read(db[:benchN*uint64(deployedEntry)])
	cl, err := NewClient(p, seedReader{mrand.NewChaCha8([32]byte{7})})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(p.DBSize()))
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		if err := cl.HintInit(bytes.NewReader(db), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportCPU(b, c0)
	st, _ := cl.MarshalBinary()
	b.ReportMetric(float64(len(st)), "state-bytes")
	b.ReportMetric(float64(p.QuerySize()), "query-bytes")
	b.ReportMetric(float64(p.AnswerSize()), "answer-bytes")
	b.ReportMetric(float64(deployedEntry), "entry-bytes")
}

// BenchmarkPlinkoQuery: iprf is a client whose caches are complete, as
// HintInit leaves them; iprf-reopened is a client just loaded from its
// saved state, whose deep records fill as its walks pass them (the
// average over a lifetime of q queries).
func BenchmarkPlinkoQuery(b *testing.B) {
	for _, v := range []struct {
		name string
		k    OffsetKind
		deep bool
	}{{"iprf", OffsetIPRF, true}, {"iprf-reopened", OffsetIPRF, false}, {"aes-scan", OffsetAESScan, false}} {
		b.Run(v.name, func(b *testing.B) {
			e := getBenchEnv(b, v.k)
			cl, err := LoadClient(e.state, WithRand(seedReader{mrand.NewChaCha8([32]byte{9})}))
			if err != nil {
				b.Fatal(err)
			}
			cl.warm(v.deep)
			rng := mrand.New(mrand.NewPCG(1, 2))
			// The benchmark is the client's build + reconstruct: answers
			// and reloads are outside the timer and the CPU count. Queries
			// go in batches (as a lookup's three do), so that stopping the
			// timer (which reads the memory statistics) and the CPU clock
			// cost nothing per query.
			const batch = 64
			var qbytes int
			var cpu, build, rec time.Duration
			qs := make([]*Query, 0, batch)
			ans := make([]*Answer, batch)
			c0 := cpuTime()
			pause := func() { b.StopTimer(); cpu += cpuTime() - c0 }
			resume := func() { c0 = cpuTime(); b.StartTimer() }
			b.ResetTimer()
			for done := 0; done < b.N; done += len(qs) {
				k := min(batch, b.N-done)
				if cl.QueriesLeft() < k {
					pause()
					cl, _ = LoadClient(e.state)
					cl.warm(v.deep)
					resume()
				}
				qs = qs[:0]
				t0 := time.Now()
				for range k {
					q, err := cl.Query(rng.Uint64N(e.p.N))
					if err != nil {
						b.Fatal(err)
					}
					qs = append(qs, q)
				}
				build += time.Since(t0)
				pause()
				for i, q := range qs {
					wire, _ := q.MarshalBinary()
					qbytes = len(wire)
					if ans[i], err = e.srv.Answer(q, 0); err != nil {
						b.Fatal(err)
					}
				}
				resume()
				t0 = time.Now()
				for i, q := range qs {
					if _, err := cl.Reconstruct(q, ans[i]); err != nil {
						b.Fatal(err)
					}
				}
				rec += time.Since(t0)
			}
			pause()
			b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "cpu-ms/op")
			b.ReportMetric(float64(build)/float64(b.N)/1e3, "build-us/op")
			b.ReportMetric(float64(rec)/float64(b.N)/1e3, "reconstruct-us/op")
			b.ReportMetric(float64(qbytes), "query-bytes")
			b.ReportMetric(float64(e.p.AnswerSize()), "answer-bytes")
		})
	}
}

func BenchmarkPlinkoAnswer(b *testing.B) {
	e := getBenchEnv(b, DefaultOffsets)
	cl, err := LoadClient(e.state)
	if err != nil {
		b.Fatal(err)
	}
	const nq = 256
	qs := make([]*Query, nq)
	for i := range qs {
		wire, _ := mustQuery(b, cl, uint64(i)*7919%e.p.N).MarshalBinary()
		if qs[i], err = DecodeQuery(e.p, wire); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	c0 := cpuTime()
	for i := range b.N {
		if _, err := e.srv.Answer(qs[i%nq], 0); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, c0)
	b.ReportMetric(float64(e.p.AnswerSize()), "answer-bytes")
}

// BenchmarkPlinkoAnswerDeployed is the server's answer for the deployed
// keyword entries (deployedEntry bytes: a 192 MiB database at 2^23). The
// queries are random: the server's work does not depend on what a query
// asks for.
func BenchmarkPlinkoAnswerDeployed(b *testing.B) {
	p, err := NewParams(benchN, deployedEntry)
	if err != nil {
		b.Fatal(err)
	}
	db := make([]byte, p.DBSize())
	mrand.NewChaCha8([32]byte{44}).Read(db[:benchN*uint64(deployedEntry)])
	srv, err := NewServer(p, db)
	if err != nil {
		b.Fatal(err)
	}
	rng := mrand.New(mrand.NewPCG(5, 6))
	const nq = 256
	qs := make([]*Query, nq)
	for i := range qs {
		q := &Query{Mask: make([]byte, (p.C+7)/8), Offsets: make([]uint32, p.C)}
		for k := range q.Mask {
			q.Mask[k] = byte(rng.Uint32())
		}
		for k := range q.Offsets {
			q.Offsets[k] = rng.Uint32N(uint32(p.W))
		}
		qs[i] = q
	}
	b.ResetTimer()
	c0 := cpuTime()
	for i := range b.N {
		if _, err := srv.Answer(qs[i%nq], 0); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, c0)
	b.ReportMetric(float64(p.AnswerSize()), "answer-bytes")
	b.ReportMetric(float64(deployedEntry), "entry-bytes")
}

func mustQuery(b testing.TB, cl *Client, x uint64) *Query {
	q, err := cl.Query(x)
	if err != nil {
		b.Fatal(err)
	}
	return q
}

func BenchmarkPlinkoUpdate2000(b *testing.B) {
	for _, k := range benchKinds {
		b.Run(k.String(), func(b *testing.B) {
			e := getBenchEnv(b, k)
			cl, err := LoadClient(e.state)
			if err != nil {
				b.Fatal(err)
			}
			cl.warm(true)
			rng := mrand.New(mrand.NewPCG(3, 4))
			ds := make([]Delta, 2000)
			for i := range ds {
				x := make([]byte, 8)
				for j := range x {
					x[j] = byte(rng.Uint32())
				}
				ds[i] = Delta{Index: rng.Uint64N(e.p.N), XOR: x}
			}
			b.ResetTimer()
			c0 := cpuTime()
			for range b.N {
				if err := cl.ApplyDeltas(ds); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, c0)
			b.ReportMetric(2000, "deltas/op")
		})
	}
}

// BenchmarkPlinkoLoad: restoring a saved client (a browser reopening the
// wallet), including the iPRF's per-block caches its first lookup needs.
func BenchmarkPlinkoLoad(b *testing.B) {
	for _, k := range benchKinds {
		b.Run(k.String(), func(b *testing.B) {
			e := getBenchEnv(b, k)
			b.ResetTimer()
			c0 := cpuTime()
			for range b.N {
				cl, err := LoadClient(e.state)
				if err != nil {
					b.Fatal(err)
				}
				cl.warm(false)
			}
			reportCPU(b, c0)
			b.ReportMetric(float64(len(e.state)), "state-bytes")
		})
	}
}

// reportCPU adds the process CPU time per operation (all threads, GC
// included): the machine is shared, so wall time also counts waiting.
func reportCPU(b *testing.B, c0 time.Duration) {
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkPlinkoLookup is one lookup's client work as runtime/client does
// it: three random indices in one Batch (with its check), answered by the
// server (outside the client's timings), reconstructed together. Reports
// the client's build and reconstruct time per lookup and the server's.
// entry=8 is the workload; entry=deployed the keyword table's entries.
func BenchmarkPlinkoLookup(b *testing.B) {
	b.Run("entry=8", func(b *testing.B) { benchLookup(b, getBenchEnv(b, DefaultOffsets)) })
	b.Run(fmt.Sprintf("entry=%d", deployedEntry), func(b *testing.B) { benchLookup(b, deployedEnv(b)) })
}

var deployedBenchEnv *benchEnv

// deployedEnv is a server and hinted client over deployedEntry-byte entries.
func deployedEnv(b *testing.B) *benchEnv {
	benchMu.Lock()
	defer benchMu.Unlock()
	if deployedBenchEnv != nil {
		return deployedBenchEnv
	}
	p, err := NewParams(benchN, deployedEntry)
	if err != nil {
		b.Fatal(err)
	}
	db := make([]byte, p.DBSize())
	mrand.NewChaCha8([32]byte{45}).Read(db[:benchN*uint64(deployedEntry)])
	deployedBenchEnv = newBenchEnv(b, p, db)
	return deployedBenchEnv
}

func benchLookup(b *testing.B, e *benchEnv) {
	cl, err := LoadClient(e.state, WithRand(seedReader{mrand.NewChaCha8([32]byte{9})}))
	if err != nil {
		b.Fatal(err)
	}
	cl.warm(true)
	rng := mrand.New(mrand.NewPCG(1, 2))
	var build, answer, rec time.Duration
	b.ResetTimer()
	for range b.N {
		if cl.QueriesLeft() < 3 {
			b.StopTimer()
			cl, _ = LoadClient(e.state)
			cl.warm(true)
			b.StartTimer()
		}
		t0 := time.Now()
		bt, err := cl.Batch([]uint64{rng.Uint64N(e.p.N), rng.Uint64N(e.p.N), rng.Uint64N(e.p.N)})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		as := make([]*Answer, len(bt.Queries))
		for i, q := range bt.Queries {
			if as[i], err = e.srv.Answer(q, 0); err != nil {
				b.Fatal(err)
			}
		}
		t2 := time.Now()
		if _, err := cl.ReconstructBatch(bt, as); err != nil {
			b.Fatal(err)
		}
		build, answer, rec = build+t1.Sub(t0), answer+t2.Sub(t1), rec+time.Since(t2)
	}
	b.ReportMetric(float64(build)/float64(b.N)/1e3, "build-us/lookup")
	b.ReportMetric(float64(answer)/float64(b.N)/1e3, "answer-us/lookup")
	b.ReportMetric(float64(rec)/float64(b.N)/1e3, "reconstruct-us/lookup")
}
