package pirserver

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// The HTTP API (see README.md).
const (
	// QueryPath answers a batch of Plinko queries: POST, body = the batch
	// wire format, response = the answer batch naming its epoch.
	QueryPath = "/v1/query"
	// EpochPath describes the served epoch as JSON (GET).
	EpochPath = "/v1/epoch"
	// EpochHeader (response) is the served epoch, also on refusals.
	EpochHeader = "Plinko-Epoch"
)

// statusTooEarly (RFC 8470): the query was built on hints newer than the
// served database; retry shortly.
const statusTooEarly = 425

// Endpoint labels for metrics (a fixed set: never the raw path).
const (
	epQuery   = "query"
	epEpoch   = "epoch"
	epHealth  = "healthz"
	epReady   = "readyz"
	epMetrics = "metrics"
	epOther   = "other"
)

func endpointOf(path string) string {
	switch path {
	case QueryPath:
		return epQuery
	case EpochPath:
		return epEpoch
	case "/healthz":
		return epHealth
	case "/readyz":
		return epReady
	case "/metrics":
		return epMetrics
	}
	return epOther
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	endpoint := endpointOf(path)
	defer func() { s.metrics.request(endpoint, ctx.Response.StatusCode()) }()
	setCORS(&ctx.Response.Header)
	ctx.Response.Header.Set("Cache-Control", "no-store")

	if ctx.IsOptions() {
		ctx.Response.Header.Set("Access-Control-Max-Age", "86400")
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	if endpoint == epOther {
		s.refuse(ctx, fasthttp.StatusNotFound, errNotFound,
			"not found: the API is POST "+QueryPath+", GET "+EpochPath+", /healthz, /readyz, /metrics")
		return
	}
	if endpoint == epQuery {
		if !ctx.IsPost() {
			ctx.Response.Header.Set("Allow", "POST, OPTIONS")
			s.refuse(ctx, fasthttp.StatusMethodNotAllowed, errMethod, "method not allowed: POST a query batch")
			return
		}
		s.query(ctx)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD, OPTIONS")
		s.refuse(ctx, fasthttp.StatusMethodNotAllowed, errMethod, "method not allowed: use GET")
		return
	}
	switch endpoint {
	case epHealth:
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("ok\n")
	case epReady:
		s.readyz(ctx)
	case epMetrics:
		s.metrics.handler(ctx)
	case epEpoch:
		e, ok := s.Current()
		if !ok {
			ctx.Response.Header.Set("Retry-After", "1")
			s.refuse(ctx, fasthttp.StatusServiceUnavailable, errNotReady, "no snapshot loaded yet")
			return
		}
		b, _ := json.Marshal(e)
		ctx.SetContentType("application/json")
		ctx.SetBody(append(b, '\n'))
	}
}

func (s *Server) query(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	body := ctx.PostBody()
	if len(body) > s.cfg.MaxBodyBytes {
		s.refuse(ctx, fasthttp.StatusRequestEntityTooLarge, errTooLarge,
			fmt.Sprintf("request body larger than %d bytes", s.cfg.MaxBodyBytes))
		return
	}
	if len(body) == 0 {
		s.refuse(ctx, fasthttp.StatusBadRequest, errMalformed, "empty body: POST a plinko query batch")
		return
	}

	s.mu.RLock()
	st := s.st
	if st == nil {
		s.mu.RUnlock()
		ctx.Response.Header.Set("Retry-After", "1")
		s.refuse(ctx, fasthttp.StatusServiceUnavailable, errNotReady, "no snapshot loaded yet: retry shortly")
		return
	}
	eng := st.eng
	qs, hint, err := eng.decode(body)
	if err == nil && hint > st.epoch {
		// The client's hints are newer than this server's database (it is
		// applying a delta the client already has): wait a little.
		s.mu.RUnlock()
		if !s.waitAhead(ctx, hint) {
			served := "none"
			if e, ok := s.Current(); ok {
				served = strconv.FormatUint(e.Epoch, 10)
				ctx.Response.Header.Set(EpochHeader, served)
			}
			ctx.Response.Header.Set("Retry-After", "1")
			s.refuse(ctx, statusTooEarly, errAhead,
				fmt.Sprintf("query from hints at epoch %d, ahead of the served epoch %s: retry shortly", hint, served))
			return
		}
		s.mu.RLock()
		st = s.st
		if st == nil { // shutting down, or dropped a broken state
			s.mu.RUnlock()
			ctx.Response.Header.Set("Retry-After", "1")
			s.refuse(ctx, fasthttp.StatusServiceUnavailable, errNotReady, "no snapshot loaded: retry shortly")
			return
		}
		if st.eng != eng { // a new snapshot was installed: decode for it
			qs, _, err = st.eng.decode(body)
		}
	}
	var out []byte
	epoch := st.epoch
	if err == nil {
		out, err = st.eng.answer(qs, epoch)
	}
	s.mu.RUnlock()

	ctx.Response.Header.Set(EpochHeader, strconv.FormatUint(epoch, 10))
	if err != nil {
		// The message goes back to the sender only; it is never logged.
		s.refuse(ctx, fasthttp.StatusBadRequest, errMalformed, "malformed query batch: "+err.Error())
		return
	}
	ctx.SetContentType("application/octet-stream")
	ctx.SetBody(out)
	s.metrics.queries.Add(float64(len(qs)))
	s.answered.Add(1)
	s.metrics.latency.Observe(time.Since(start).Seconds())
}

func (s *Server) readyz(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain; charset=utf-8")
	e, ok := s.Current()
	if !ok {
		s.metrics.ready.Set(0)
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString("not ready: loading the snapshot\n")
		return
	}
	newest := s.newest.Load()
	if since := s.behindSince.Load(); since != 0 && e.Epoch < newest && time.Since(time.Unix(0, since)) > s.cfg.ReadyLag {
		s.metrics.ready.Set(0)
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString(fmt.Sprintf("not ready: serving epoch %d, newest published %d\n", e.Epoch, newest))
		return
	}
	s.metrics.ready.Set(1)
	ctx.SetBodyString(fmt.Sprintf("ready: epoch %d block %d\n", e.Epoch, e.BlockNumber))
}

// refuse answers with a status and a one-line message, and counts the class.
func (s *Server) refuse(ctx *fasthttp.RequestCtx, code int, class, msg string) {
	s.metrics.errors.WithLabelValues(class).Inc()
	ctx.SetStatusCode(code)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(msg + "\n")
}

func setCORS(h *fasthttp.ResponseHeader) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, GET, HEAD, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Expose-Headers", EpochHeader+", Retry-After")
}
