// Package verify is the deployment checklist behind `plinko verify`: every
// service alive and ready, the published manifest, snapshot, head and newest
// delta intact, the wallet page and its WebAssembly served, one full private
// lookup answered correctly, and (with the RPC URL of a node the user
// trusts) the chain id, the blocks the snapshot and the newest delta name
// (hash and state root) and the served epoch close to the chain head. Each
// check prints one line; any failure fails the run.
package verify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/plinko-pir/plinko/runtime/client"
	"github.com/plinko-pir/plinko/runtime/client/balance"
	"github.com/plinko-pir/plinko/runtime/dataset"
)

// Config names the deployment to check.
type Config struct {
	Wallet, CDN, PIR string
	// RPC, when set, is the JSON-RPC URL of an Ethereum node the user
	// trusts: the published chain id, block hashes and state roots must be
	// its, and the served epoch within MaxLag blocks of its head.
	RPC string
	// HTTP is used for every request; nil means balance.HTTPClient (bounded
	// connect and response-header waits, no overall limit: the snapshot is big).
	HTTP *http.Client
	// Out receives one line per check; nil discards.
	Out io.Writer
	// OnProgress receives the throwaway client's sync progress.
	OnProgress func(client.Progress)
}

// MaxLag is how many blocks the served epoch may trail the chain head.
const MaxLag = 2

// Check is one line of the report.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

func (c Check) String() string {
	status := "ok  "
	if !c.OK {
		status = "FAIL"
	}
	return fmt.Sprintf("%s %-16s %s", status, c.Name, c.Detail)
}

// ErrFailed is returned (wrapped) when any check failed.
var ErrFailed = errors.New("verification failed")

type run struct {
	cfg    Config
	http   *http.Client
	checks []Check
	man    *dataset.Manifest
	delta  *dataset.Delta // the newest delta, when one is published
	// servedBlock is the block of the pir-server's answer (0 until known).
	servedBlock uint64
}

// Run performs every check, writes one line per check to cfg.Out and
// returns the checks; err wraps ErrFailed if any failed.
func Run(ctx context.Context, cfg Config) ([]Check, error) {
	r := &run{cfg: cfg, http: cfg.HTTP}
	if r.http == nil {
		r.http = balance.HTTPClient()
	}
	for _, svc := range []struct{ name, url string }{{"wallet", cfg.Wallet}, {"cdn", cfg.CDN}, {"pir", cfg.PIR}} {
		for _, probe := range []string{"healthz", "readyz"} {
			r.add(svc.name+" "+probe, r.probe(ctx, svc.url, probe))
		}
	}
	r.add("manifest", r.checkManifest(ctx))
	r.add("head and delta", r.checkHead(ctx))
	r.add("wallet page", r.checkWalletPage(ctx))
	r.add("wallet wasm", r.checkWasm(ctx))
	snap, lookup := r.checkLookup(ctx)
	r.add("snapshot", snap)
	r.add("private lookup", lookup)
	if cfg.RPC != "" {
		ec, err := ethclient.DialContext(ctx, cfg.RPC)
		if err != nil {
			r.add("chain blocks", fail("connecting to %s: %v", cfg.RPC, err))
			r.add("chain head", fail("connecting to %s: %v", cfg.RPC, err))
		} else {
			r.add("chain blocks", r.checkChainBlocks(ctx, ec))
			r.add("chain head", r.checkChainHead(ctx, ec))
			ec.Close()
		}
	}
	failed := 0
	for _, c := range r.checks {
		if !c.OK {
			failed++
		}
	}
	if failed > 0 {
		return r.checks, fmt.Errorf("%d of %d checks: %w", failed, len(r.checks), ErrFailed)
	}
	return r.checks, nil
}

// result is a check's outcome before it gets its name.
type result struct {
	ok     bool
	detail string
}

func pass(format string, a ...any) result { return result{true, fmt.Sprintf(format, a...)} }
func fail(format string, a ...any) result { return result{false, fmt.Sprintf(format, a...)} }

func (r *run) add(name string, res result) {
	c := Check{Name: name, OK: res.ok, Detail: res.detail}
	r.checks = append(r.checks, c)
	if r.cfg.Out != nil {
		fmt.Fprintln(r.cfg.Out, c)
	}
}

func join(base, path string) string {
	return strings.TrimRight(base, "/") + "/" + strings.TrimLeft(path, "/")
}

// fetch GETs url and returns status, headers and at most limit bytes of body.
func (r *run) fetch(ctx context.Context, url string, limit int64) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return resp, nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if int64(len(body)) > limit {
		return resp, nil, fmt.Errorf("%s: larger than %d bytes", url, limit)
	}
	return resp, body, nil
}

func (r *run) probe(ctx context.Context, base, probe string) result {
	if base == "" {
		return fail("no URL given")
	}
	url := join(base, probe)
	resp, body, err := r.fetch(ctx, url, 4096)
	if err != nil {
		return fail("%v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fail("%s: %s %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return pass("%s: %s", url, resp.Status)
}

// manifestNow fetches and validates manifest.json.
func (r *run) manifestNow(ctx context.Context) (*dataset.Manifest, error) {
	url := join(r.cfg.CDN, dataset.ManifestName)
	resp, body, err := r.fetch(ctx, url, dataset.MaxJSONSize)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	man, err := dataset.DecodeManifest(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return man, nil
}

func (r *run) checkManifest(ctx context.Context) result {
	man, err := r.manifestNow(ctx)
	if err != nil {
		return fail("%v", err)
	}
	r.man = man
	s := man.Snapshot()
	return pass("chain %d, epoch %d (block %d %s, state root %s), n=%d, %d blocks of %d, snapshot %s (%d bytes)",
		man.ChainID, man.Epoch, man.BlockNumber, man.BlockHash, man.StateRoot, man.N, man.C, man.W, s.Name, s.Size)
}

func (r *run) checkHead(ctx context.Context) result {
	url := join(r.cfg.CDN, dataset.HeadName)
	resp, body, err := r.fetch(ctx, url, dataset.MaxJSONSize)
	if err != nil {
		return fail("%v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fail("%s: %s", url, resp.Status)
	}
	head, err := dataset.DecodeHead(body)
	if err != nil {
		return fail("%s: %v", url, err)
	}
	if r.man != nil && head.Epoch < r.man.Epoch {
		return fail("head epoch %d is behind the manifest's %d", head.Epoch, r.man.Epoch)
	}
	if head.Epoch < head.OldestDelta {
		return pass("epoch %d (block %d), no deltas published yet", head.Epoch, head.BlockNumber)
	}
	durl := join(r.cfg.CDN, dataset.DeltaName(head.Epoch))
	resp, body, err = r.fetch(ctx, durl, 256<<20)
	if err != nil {
		return fail("%v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fail("%s: %s", durl, resp.Status)
	}
	d, err := dataset.DecodeDelta(body)
	if err != nil {
		return fail("%s: %v", durl, err)
	}
	if d.Epoch != head.Epoch || d.BlockNumber != head.BlockNumber || d.BlockHash != head.BlockHash || d.ChainID != head.ChainID {
		return fail("newest delta names chain %d epoch %d block %d %s, head says chain %d epoch %d block %d %s",
			d.ChainID, d.Epoch, d.BlockNumber, d.BlockHash, head.ChainID, head.Epoch, head.BlockNumber, head.BlockHash)
	}
	if r.man != nil && head.ChainID != r.man.ChainID {
		return fail("head names chain %d, the manifest chain %d", head.ChainID, r.man.ChainID)
	}
	r.delta = d
	return pass("epoch %d (block %d %s); newest delta verifies (%d records); deltas kept from epoch %d",
		head.Epoch, head.BlockNumber, head.BlockHash, len(d.Records), head.OldestDelta)
}

func mediaType(resp *http.Response) string {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

func (r *run) checkWalletPage(ctx context.Context) result {
	if r.cfg.Wallet == "" {
		return fail("no URL given")
	}
	url := join(r.cfg.Wallet, "/")
	resp, body, err := r.fetch(ctx, url, 4<<20)
	if err != nil {
		return fail("%v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fail("%s: %s", url, resp.Status)
	}
	if mt := mediaType(resp); mt != "text/html" {
		return fail("%s: Content-Type %q, want text/html", url, resp.Header.Get("Content-Type"))
	}
	return pass("%s: %d bytes of text/html", url, len(body))
}

// checkWasm finds the .wasm through the wallet's config.json and checks it
// is served as application/wasm and is a WebAssembly module.
func (r *run) checkWasm(ctx context.Context) result {
	if r.cfg.Wallet == "" {
		return fail("no URL given")
	}
	curl := join(r.cfg.Wallet, "config.json")
	resp, body, err := r.fetch(ctx, curl, 1<<16)
	if err != nil {
		return fail("%v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fail("%s: %s", curl, resp.Status)
	}
	var cfg struct {
		Wasm string `json:"wasm"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil || !strings.HasSuffix(cfg.Wasm, ".wasm") {
		return fail("%s does not name a .wasm file", curl)
	}
	wurl := join(r.cfg.Wallet, cfg.Wasm)
	resp, body, err = r.fetch(ctx, wurl, 256<<20)
	if err != nil {
		return fail("%v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fail("%s: %s", wurl, resp.Status)
	}
	if mt := mediaType(resp); mt != "application/wasm" {
		return fail("%s: Content-Type %q, want application/wasm", wurl, resp.Header.Get("Content-Type"))
	}
	if !bytes.HasPrefix(body, []byte("\x00asm")) {
		return fail("%s is not a WebAssembly module", wurl)
	}
	return pass("%s: %d bytes of application/wasm", wurl, len(body))
}

// snapshotTap hashes and counts the snapshot as the throwaway client streams
// it, and keeps the one entry the private lookup will read.
type snapshotTap struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n         int64
	off, size int64
	entry     []byte
}

func (t *snapshotTap) Write(p []byte) (int, error) {
	t.h.Write(p)
	start, end := t.n, t.n+int64(len(p))
	lo, hi := max(start, t.off), min(end, t.off+t.size)
	if lo < hi {
		t.entry = append(t.entry, p[lo-start:hi-start]...)
	}
	t.n = end
	return len(p), nil
}

// checkLookup builds hints from the snapshot with a throwaway client (which
// also verifies the snapshot), privately reads one random index through the
// pir-server, and compares it with the snapshot's entry plus the deltas up
// to the answer's epoch.
func (r *run) checkLookup(ctx context.Context) (snapshot, lookup result) {
	man := r.man
	if man == nil {
		return fail("no valid manifest"), fail("no valid manifest")
	}
	if r.cfg.CDN == "" || r.cfg.PIR == "" {
		return fail("needs --cdn and --pir"), fail("needs --cdn and --pir")
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fail("%v", err), fail("%v", err)
	}
	index := binary.LittleEndian.Uint64(b[:]) % man.N
	es := int64(man.EntrySize)
	tap := &snapshotTap{h: sha256.New(), off: int64(index) * es, size: es}
	cl, err := client.New(client.Config{CDN: r.cfg.CDN, PIR: r.cfg.PIR, HTTP: r.http, SnapshotTee: tap, OnProgress: r.cfg.OnProgress})
	if err != nil {
		return fail("%v", err), fail("%v", err)
	}
	start := time.Now()
	syncErr := cl.Sync(ctx)
	sum := hex.EncodeToString(tap.h.Sum(nil))
	if syncErr == nil && sum != man.Snapshot().SHA256 {
		// A new snapshot may have been published since the manifest check:
		// compare with the manifest the client saw.
		if m2, err := r.manifestNow(ctx); err == nil && m2.Snapshot().SHA256 == sum {
			man = m2
		}
	}
	snap := man.Snapshot()
	switch {
	case errors.Is(syncErr, client.ErrSnapshotChecksum):
		snapshot = fail("%v", syncErr)
	case tap.n != int64(snap.Size):
		snapshot = fail("streamed %d bytes, the manifest says %d (%v)", tap.n, snap.Size, syncErr)
	case sum != snap.SHA256:
		snapshot = fail("sha256 %s, the manifest says %s", sum, snap.SHA256)
	default:
		snapshot = pass("%s: %d bytes, sha256 matches the manifest", snap.Name, tap.n)
	}
	if syncErr != nil {
		return snapshot, fail("building hints: %v", syncErr)
	}
	built := time.Since(start)
	start = time.Now()
	got, res, err := cl.LookupIndex(ctx, index)
	if err != nil {
		return snapshot, fail("%v", err)
	}
	took := time.Since(start)
	r.servedBlock = res.Block
	want := bytes.Clone(tap.entry)
	for e := man.Epoch + 1; e <= res.Epoch; e++ {
		durl := join(r.cfg.CDN, dataset.DeltaName(e))
		resp, body, err := r.fetch(ctx, durl, 256<<20)
		if err != nil {
			return snapshot, fail("%v", err)
		}
		if resp.StatusCode != http.StatusOK {
			return snapshot, fail("%s: %s", durl, resp.Status)
		}
		d, err := dataset.DecodeDelta(body)
		if err != nil {
			return snapshot, fail("%s: %v", durl, err)
		}
		for _, rec := range d.Records {
			if rec.Index == index {
				for i := range want {
					want[i] ^= rec.XOR[i]
				}
			}
		}
	}
	if !bytes.Equal(got, want) {
		return snapshot, fail("random index %d at epoch %d: private answer %x, snapshot and deltas say %x", index, res.Epoch, got, want)
	}
	return snapshot, pass("random index %d answered correctly at epoch %d (block %d); hints built in %s, lookup took %s",
		index, res.Epoch, res.Block, built.Round(time.Millisecond), took.Round(time.Millisecond))
}

// checkChainBlocks compares what the deployment claims with the trusted
// node: its chain id, and the block (number, hash, state root) the snapshot
// and the newest delta name. A snapshot block may have been reorged out
// since (the deltas correct it), so it must only be a block the node knows;
// the newest delta's block must be on the node's canonical chain.
func (r *run) checkChainBlocks(ctx context.Context, ec *ethclient.Client) result {
	if r.man == nil {
		return fail("no valid manifest")
	}
	id, err := ec.ChainID(ctx)
	if err != nil {
		return fail("eth_chainId: %v", err)
	}
	if !id.IsUint64() || id.Uint64() != r.man.ChainID {
		return fail("the deployment publishes chain %d, the node at %s serves chain %s", r.man.ChainID, r.cfg.RPC, id)
	}
	type named struct {
		what          string
		number        uint64
		hash, root    dataset.Hash
		needCanonical bool
	}
	blocks := []named{{"snapshot", r.man.BlockNumber, r.man.BlockHash, r.man.StateRoot, false}}
	if r.delta != nil {
		blocks = append(blocks, named{"newest delta", r.delta.BlockNumber, r.delta.BlockHash, r.delta.StateRoot, true})
	}
	var ok []string
	for _, b := range blocks {
		hdr, err := ec.HeaderByHash(ctx, common.Hash(b.hash))
		if err != nil {
			return fail("%s names block %d %s, which the node does not know: %v", b.what, b.number, b.hash, err)
		}
		if hdr.Number.Uint64() != b.number || dataset.Hash(hdr.Root) != b.root {
			return fail("%s names block %d %s with state root %s; the node has that block at %d with state root %s",
				b.what, b.number, b.hash, b.root, hdr.Number, hdr.Root)
		}
		canon := "canonical"
		if c, err := ec.HeaderByNumber(ctx, hdr.Number); err != nil || c.Hash() != hdr.Hash() {
			if b.needCanonical {
				return fail("%s names block %d %s, which is not on the node's canonical chain", b.what, b.number, b.hash)
			}
			canon = "since reorged out"
		}
		ok = append(ok, fmt.Sprintf("%s block %d (%s) hash and state root match", b.what, b.number, canon))
	}
	return pass("chain %d; %s", id, strings.Join(ok, "; "))
}

func (r *run) checkChainHead(ctx context.Context, ec *ethclient.Client) result {
	head, err := ec.BlockNumber(ctx)
	if err != nil {
		return fail("eth_blockNumber: %v", err)
	}
	if r.servedBlock == 0 {
		return fail("chain head %d; no served epoch to compare (the private lookup failed)", head)
	}
	if head > r.servedBlock && head-r.servedBlock > MaxLag {
		return fail("served block %d is %d blocks behind the chain head %d (at most %d allowed)", r.servedBlock, head-r.servedBlock, head, MaxLag)
	}
	return pass("served block %d, chain head %d", r.servedBlock, head)
}
