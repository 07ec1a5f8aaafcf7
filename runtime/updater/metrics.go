package updater

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/plinko-pir/plinko/runtime/fastserve"
)

// Metrics are the updater's Prometheus metrics. One set lives as long as
// the process: an Updater that is restarted in the same process (plinko
// local) keeps counting into it. They describe the chain and the published
// files only; the updater never sees a lookup.
type Metrics struct {
	reg *prometheus.Registry

	epoch, block, snapshotEpoch, snapshotTime, snapshotEvery prometheus.Gauge
	tableEntries, tableSize, tableLoad, lastPublish          prometheus.Gauge
	blockDuration, publishLatency                            prometheus.Histogram
	epochs, records, reorgs, regenerations                   prometheus.Counter
	publishErrors, followErrors                              prometheus.Counter
	headSeen, lagBlocks, lagSeconds                          prometheus.GaugeFunc

	// Read at scrape time, so a stuck updater's lag keeps growing.
	head, applied atomic.Uint64
	behindSince   atomic.Int64 // unix nanos since a head newer than the applied block was seen; 0: caught up
}

// NewMetrics makes the updater's metric set with its own registry (plus the
// Go and process collectors, as the pir-server and cdn have).
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m.epoch = gauge("plinko_updater_epoch", "Newest published epoch.")
	m.block = gauge("plinko_updater_block_number", "Block whose state the newest published epoch holds (the head block applied).")
	m.snapshotEpoch = gauge("plinko_updater_snapshot_epoch", "Epoch of the newest published snapshot.")
	m.snapshotTime = gauge("plinko_updater_snapshot_timestamp_seconds", "Unix time the newest snapshot was written (on start: manifest.json's modification time).")
	m.snapshotEvery = gauge("plinko_updater_snapshot_every_epochs", "Configured snapshot interval in epochs (--snapshot-every; 0: never).")
	m.tableEntries = gauge("plinko_updater_keyword_table_entries", "Occupied entries of the keyword table.")
	m.tableSize = gauge("plinko_updater_keyword_table_size", "Entries of the keyword table (its capacity).")
	m.tableLoad = gauge("plinko_updater_keyword_table_load", "Occupied fraction of the keyword table (regeneration at --regenerate-load).")
	m.lastPublish = gauge("plinko_updater_last_publish_timestamp_seconds", "Unix time of the newest published epoch (delta or regenerated snapshot).")
	m.blockDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "plinko_updater_block_duration_seconds",
		Help:    "Time to process one block: modified accounts, balances, table, delta and head.json on disk.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms .. 41 s
	})
	m.publishLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "plinko_updater_publish_latency_seconds",
		Help:    "Time from the head notification (or poll) to the block's delta on disk, catching up included.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 16), // 5 ms .. 164 s
	})
	m.epochs = counter("plinko_updater_epochs_published_total", "Epochs published (one per block, reorg corrections and regenerations included).")
	m.records = counter("plinko_updater_delta_records_total", "Changed entries published in deltas.")
	m.reorgs = counter("plinko_updater_reorgs_total", "Reorgs handled (each published as one correcting delta).")
	m.regenerations = counter("plinko_updater_regenerations_total", "Keyword tables rebuilt from the chain.")
	m.publishErrors = counter("plinko_updater_publish_errors_total", "Failed writes of a delta, head.json or snapshot.")
	m.followErrors = counter("plinko_updater_follow_errors_total", "Rounds of following the chain that failed and were retried (RPC errors included).")
	m.headSeen = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "plinko_updater_chain_head_block", Help: "Newest block number the node reported.",
	}, func() float64 { return float64(m.head.Load()) })
	m.lagBlocks = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "plinko_updater_lag_blocks", Help: "Chain head seen minus the head block applied (0 when caught up).",
	}, func() float64 {
		h, a := m.head.Load(), m.applied.Load()
		if h <= a {
			return 0
		}
		return float64(h - a)
	})
	m.lagSeconds = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "plinko_updater_lag_seconds", Help: "Seconds since the node first showed a block not yet published (0 when caught up).",
	}, func() float64 {
		since := m.behindSince.Load()
		if since == 0 {
			return 0
		}
		return time.Since(time.Unix(0, since)).Seconds()
	})
	m.reg.MustRegister(m.epoch, m.block, m.snapshotEpoch, m.snapshotTime, m.snapshotEvery,
		m.tableEntries, m.tableSize, m.tableLoad, m.lastPublish, m.blockDuration, m.publishLatency,
		m.epochs, m.records, m.reorgs, m.regenerations, m.publishErrors, m.followErrors,
		m.headSeen, m.lagBlocks, m.lagSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Gatherer is the registry, for tests and for embedding in another endpoint.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// sawHead records the node's head (from a newHeads notification or a
// read of the latest header), seen at time at; after a reorg to a shorter
// branch it goes down.
func (m *Metrics) sawHead(n uint64, at time.Time) {
	m.head.Store(n)
	m.updateBehind(at)
}

// sawBlock records that the node has block n, so its head is at least n.
func (m *Metrics) sawBlock(n uint64, at time.Time) {
	for {
		h := m.head.Load()
		if n <= h || m.head.CompareAndSwap(h, n) {
			break
		}
	}
	m.updateBehind(at)
}

// state records the published epoch after a load, a publish or a
// regeneration.
func (m *Metrics) state(epoch, block uint64) {
	m.epoch.Set(float64(epoch))
	m.block.Set(float64(block))
	m.applied.Store(block)
	m.updateBehind(time.Now())
}

func (m *Metrics) updateBehind(at time.Time) {
	if m.head.Load() > m.applied.Load() {
		m.behindSince.CompareAndSwap(0, at.UnixNano())
	} else {
		m.behindSince.Store(0)
	}
}

func (m *Metrics) snapshot(epoch uint64, at time.Time) {
	m.snapshotEpoch.Set(float64(epoch))
	m.snapshotTime.Set(float64(at.UnixNano()) / 1e9)
}

func (m *Metrics) table(occupied, size uint64) {
	m.tableEntries.Set(float64(occupied))
	m.tableSize.Set(float64(size))
	m.tableLoad.Set(float64(occupied) / float64(max(size, 1)))
}

// ServeMetrics answers GET /metrics (and /healthz) on ln until ctx ends.
func ServeMetrics(ctx context.Context, ln net.Listener, m *Metrics, log *slog.Logger) error {
	metrics := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	srv := &fasthttp.Server{
		Name:                  "plinko-updater",
		NoDefaultServerHeader: true,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		Handler: func(ctx *fasthttp.RequestCtx) {
			switch string(ctx.Path()) {
			case "/metrics":
				metrics(ctx)
			case "/healthz":
				ctx.SetBodyString("ok\n")
			default:
				ctx.Error("not found: this listener serves /metrics and /healthz", fasthttp.StatusNotFound)
			}
		},
	}
	log.Info("updater: serving metrics", "addr", ln.Addr().String())
	if err := fastserve.Serve(ctx, srv, ln, 2*time.Second, log); err != nil {
		return fmt.Errorf("updater: serving metrics: %w", err)
	}
	return nil
}
