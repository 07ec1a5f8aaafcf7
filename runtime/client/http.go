package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Response size bounds: a hostile or broken server cannot make the client
// allocate without limit.
const (
	maxHeadSize   = 1 << 16
	maxDeltaSize  = 256 << 20
	maxAnswerSize = 1 << 20
	maxErrorBody  = 512
)

// errNotFound marks a 404, which for a delta means it was pruned.
var errNotFound = errors.New("not found")

// errBadRequest marks a 400: for a query, the pir-server may have moved to
// a snapshot with another layout.
var errBadRequest = errors.New("bad request")

// joinURL appends a path to a base URL without doubling slashes.
func joinURL(base, path string) string {
	return strings.TrimRight(base, "/") + "/" + strings.TrimLeft(path, "/")
}

// errStalled: the server accepted the request but sent nothing for
// StallTimeout.
var errStalled = errors.New("the server sent nothing")

// do sends a request built by mk under an idle timeout: the request is
// cancelled when no byte arrives for StallTimeout, before the response or
// between reads of its body. A stalled request is tried once more (a
// query batch is sent again as it was: the server has seen it already).
func (c *Client) do(ctx context.Context, url string, mk func(context.Context) (*http.Request, error)) (*http.Response, error) {
	stall := c.cfg.StallTimeout
	if stall <= 0 {
		stall = 15 * time.Second
	}
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithCancel(ctx)
		var stalled atomic.Bool
		timer := time.AfterFunc(stall, func() { stalled.Store(true); cancel() })
		req, err := mk(rctx)
		if err != nil {
			timer.Stop()
			cancel()
			return nil, fmt.Errorf("building request for %s: %w", url, err)
		}
		resp, err := c.http.Do(req)
		if err == nil {
			resp.Body = &idleBody{r: resp.Body, timer: timer, stall: stall, cancel: cancel, stalled: &stalled, url: url}
			return resp, nil
		}
		timer.Stop()
		cancel()
		if !stalled.Load() || ctx.Err() != nil {
			return nil, err
		}
		if attempt > 0 {
			return nil, fmt.Errorf("%s: %w for %v, twice", url, errStalled, stall)
		}
		c.log.Info("no answer yet; trying once more", "url", url, "waited", stall)
	}
}

// idleBody re-arms the stall timer on every read and releases it on Close.
type idleBody struct {
	r       io.ReadCloser
	timer   *time.Timer
	stall   time.Duration
	cancel  context.CancelFunc
	stalled *atomic.Bool
	url     string
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.timer.Reset(b.stall)
	}
	if err != nil && err != io.EOF && b.stalled.Load() {
		err = fmt.Errorf("%s: %w for %v in the middle of the body: %w", b.url, errStalled, b.stall, err)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	b.cancel()
	return b.r.Close()
}

// get issues a GET and returns the response for a 200; other statuses are
// errors (errNotFound for 404) carrying a bounded piece of the body.
func (c *Client) get(ctx context.Context, url string) (*http.Response, error) {
	resp, err := c.do(ctx, url, func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, withoutURL(err))
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, statusError(url, resp)
	}
	return resp, nil
}

// getBytes fetches a small file whole, refusing more than limit bytes.
func (c *Client) getBytes(ctx context.Context, url string, limit int64) ([]byte, error) {
	resp, err := c.get(ctx, url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return readLimited(resp.Body, limit, url)
}

func readLimited(r io.Reader, limit int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("reading %s: larger than %d bytes", what, limit)
	}
	return b, nil
}

// post sends body to url and returns the 200 response's body (bounded).
func (c *Client) post(ctx context.Context, url, contentType string, body []byte, limit int64) ([]byte, error) {
	resp, err := c.do(ctx, url, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", contentType)
		}
		return req, err
	})
	if err != nil {
		return nil, fmt.Errorf("querying %s: %w", url, withoutURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(url, resp)
	}
	return readLimited(resp.Body, limit, url)
}

// withoutURL drops net/http's own `Post "URL": ` from a transport error:
// the message names the URL once, in front.
func withoutURL(err error) error {
	if ue, ok := err.(*neturl.Error); ok {
		return ue.Err
	}
	return err
}

func statusError(url string, resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	detail := strings.TrimSpace(string(msg))
	if resp.StatusCode == http.StatusTooEarly {
		// The pir-server's database is behind the hints' epoch (RFC 8470).
		return fmt.Errorf("%s: %s: %s: %w", url, resp.Status, detail, ErrServerBehind)
	}
	if resp.StatusCode == http.StatusBadRequest {
		return fmt.Errorf("%s: %s: %s: %w: %w", url, resp.Status, detail, ErrServer, errBadRequest)
	}
	if resp.StatusCode == http.StatusNotFound {
		// The status says it all: "404 Not Found: server error: not found"
		// read as the same words twice.
		return &statusErr{msg: url + ": " + resp.Status, errs: []error{ErrServer, errNotFound}}
	}
	if detail != "" {
		return fmt.Errorf("%s: %s: %s: %w", url, resp.Status, detail, ErrServer)
	}
	return fmt.Errorf("%s: %s: %w", url, resp.Status, ErrServer)
}

// statusErr is an HTTP status error whose text is the URL and status alone,
// still matching its sentinels with errors.Is.
type statusErr struct {
	msg  string
	errs []error
}

func (e *statusErr) Error() string   { return e.msg }
func (e *statusErr) Unwrap() []error { return e.errs }
