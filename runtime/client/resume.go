package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// maxResumes bounds how often one snapshot download is resumed.
const maxResumes = 8

// resumingBody reads the snapshot and, when the connection drops part way,
// asks the CDN for the rest (Range: bytes=N-) instead of starting over: at
// mainnet scale the snapshot is gigabytes. The file is content-addressed
// (its name carries its sha256) and the whole stream is checked against
// the manifest's sha256 anyway, so a resumed stream cannot splice two
// versions unnoticed. A body that ends cleanly but short (a truncated
// file) is not resumed: the size check reports it.
type resumingBody struct {
	ctx     context.Context
	c       *Client
	url     string
	body    io.ReadCloser
	off     int64 // bytes passed on
	resumes int
}

func (c *Client) resumable(ctx context.Context, url string, resp *http.Response) *resumingBody {
	return &resumingBody{ctx: ctx, c: c, url: url, body: resp.Body}
}

func (r *resumingBody) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == nil || err == io.EOF || r.ctx.Err() != nil || r.resumes >= maxResumes {
			return n, err
		}
		r.body.Close()
		if rerr := r.resume(); rerr != nil {
			return n, fmt.Errorf("%w (resuming at byte %d: %w)", err, r.off, rerr)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// resume asks for the bytes from r.off on. A server that ignores Range
// answers 200 with the whole file: its first r.off bytes are skipped.
func (r *resumingBody) resume() error {
	r.resumes++
	r.c.log.Info("snapshot download interrupted; resuming", "at_byte", r.off, "attempt", r.resumes)
	resp, err := r.c.do(r.ctx, r.url, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
		if err == nil {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(r.off, 10)+"-")
		}
		return req, err
	})
	if err != nil {
		return withoutURL(err)
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(r.off, 10)+"-") {
			resp.Body.Close()
			return fmt.Errorf("asked for bytes %d on, got Content-Range %q", r.off, resp.Header.Get("Content-Range"))
		}
	case http.StatusOK:
		if _, err := io.CopyN(io.Discard, resp.Body, r.off); err != nil {
			resp.Body.Close()
			return fmt.Errorf("skipping to byte %d of a full answer: %w", r.off, err)
		}
	default:
		defer resp.Body.Close()
		return statusError(r.url, resp)
	}
	r.body = resp.Body
	return nil
}

func (r *resumingBody) Close() error { return r.body.Close() }
