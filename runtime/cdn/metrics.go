package cdn

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// metrics are labelled by file kind and status code only: bounded, and
// nothing a client chose beyond which public file it fetched.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	handler  fasthttp.RequestHandler
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plinko_cdn_requests_total",
			Help: "HTTP requests by file kind and status code.",
		}, []string{"kind", "code"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plinko_cdn_response_bytes_total",
			Help: "Response body bytes by file kind (as sent, after gzip).",
		}, []string{"kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "plinko_cdn_request_duration_seconds",
			Help:    "Time to prepare a response (streaming the body is not included).",
			Buckets: prometheus.ExponentialBuckets(50e-6, 4, 10),
		}, []string{"kind"}),
	}
	reg.MustRegister(m.requests, m.bytes, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return m
}

func (m *metrics) observe(kind string, code int, d time.Duration, bodyLen int) {
	m.requests.WithLabelValues(kind, strconv.Itoa(code)).Inc()
	if bodyLen > 0 {
		m.bytes.WithLabelValues(kind).Add(float64(bodyLen))
	}
	m.latency.WithLabelValues(kind).Observe(d.Seconds())
}

func (m *metrics) serve(ctx *fasthttp.RequestCtx) { m.handler(ctx) }
