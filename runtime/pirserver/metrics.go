package pirserver

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// metrics never carry anything derived from a query's content: only counts,
// durations, status codes, error classes and the served epoch.
type metrics struct {
	requests      *prometheus.CounterVec
	queries       prometheus.Counter
	latency       prometheus.Histogram
	errors        *prometheus.CounterVec
	epoch         prometheus.Gauge
	block         prometheus.Gauge
	newest        prometheus.Gauge
	ready         prometheus.Gauge
	deltasApplied prometheus.Counter
	deltaErrors   prometheus.Counter
	followErrors  prometheus.Counter
	snapshotLoads prometheus.Counter
	handler       fasthttp.RequestHandler
}

// Error classes for plinko_pir_errors_total.
const (
	errMalformed = "malformed"
	errTooLarge  = "too_large"
	errAhead     = "epoch_ahead"
	errNotReady  = "not_ready"
	errMethod    = "method"
	errNotFound  = "not_found"
	errInternal  = "internal"
)

func newMetrics() *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plinko_pir_requests_total",
			Help: "HTTP requests by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		queries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plinko_pir_queries_total",
			Help: "PIR queries answered (a batch of k counts k).",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "plinko_pir_query_duration_seconds",
			Help:    "Time to answer one POST /v1/query (decode, answer, encode).",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16),
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plinko_pir_errors_total",
			Help: "Refused requests by class.",
		}, []string{"reason"}),
		epoch: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "plinko_pir_epoch",
			Help: "Epoch of the database answers are computed on.",
		}),
		block: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "plinko_pir_block_number",
			Help: "Block whose state the served database holds.",
		}),
		newest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "plinko_pir_newest_published_epoch",
			Help: "Newest epoch seen in the published head.json.",
		}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "plinko_pir_ready",
			Help: "1 when /readyz answers 200.",
		}),
		deltasApplied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plinko_pir_deltas_applied_total",
			Help: "Deltas applied to the served database.",
		}),
		deltaErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plinko_pir_delta_errors_total",
			Help: "Deltas that could not be fetched or were refused (corrupt, misfit).",
		}),
		followErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plinko_pir_follow_errors_total",
			Help: "Failed attempts to sync with the published dataset.",
		}),
		snapshotLoads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plinko_pir_snapshot_loads_total",
			Help: "Snapshots loaded and verified.",
		}),
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.requests, m.queries, m.latency, m.errors, m.epoch, m.block, m.newest, m.ready,
		m.deltasApplied, m.deltaErrors, m.followErrors, m.snapshotLoads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return m
}

func (m *metrics) setEpoch(epoch, block uint64) {
	m.epoch.Set(float64(epoch))
	m.block.Set(float64(block))
}

func (m *metrics) request(endpoint string, code int) {
	m.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
}
