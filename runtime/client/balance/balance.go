// Package balance is `plinko balance`: sync hints, look one address up
// privately and print its balance. The last line of output is exactly
//
//	0xADDRESS <balance in ETH> ETH (<wei> wei) at block <n>
//
// with the address in EIP-55 checksum form and the balance exactly what
// eth_getBalance gives at that block (ETH with up to 18 decimals, trailing
// zeros trimmed; no floating point).
package balance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/plinko-pir/plinko/runtime/client"
	"github.com/plinko-pir/plinko/runtime/client/sealed"
	"github.com/plinko-pir/plinko/runtime/progress"
)

// Config is what the command line gives.
type Config struct {
	CDN, PIR string
	// StateDir keeps the hints between runs; empty: DefaultStateDir.
	StateDir string
	// Address is the 0x-prefixed hex address to look up.
	Address string
	// Out receives the result lines; Err the progress bar.
	Out, Err io.Writer
	// Progress draws progress bars on Err (for a terminal).
	Progress bool
	Logger   *slog.Logger
	HTTP     *http.Client
	// Passphrase seals the state (argon2id) instead of the OS keyring or a
	// key file; Prompt asks for it when a state sealed with one is found
	// (nil: nobody to ask). See sealed.NewKeys for the order.
	Passphrase []byte
	Prompt     func() ([]byte, error)
	// Keyring is the OS keyring when nil (tests pass a stand-in).
	Keyring sealed.Keyring
	// ChainID, when set, is the only chain accepted; 0 pins the chain of
	// the saved state or of the first manifest seen.
	ChainID uint64
}

// DefaultStateDir is where hints live when --state is not given: the user's
// cache directory (they can always be rebuilt from the snapshot).
func DefaultStateDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "plinko", "client")
}

// stateDirFor keeps one state per CDN so that switching deployments never
// mixes hints (the state would be rebuilt anyway, but this keeps both).
func stateDirFor(base, cdn string) string {
	sum := sha256.Sum256([]byte(strings.TrimRight(cdn, "/")))
	return filepath.Join(base, hex.EncodeToString(sum[:6]))
}

// HTTPClient is the HTTP client of the command-line tools: no overall
// timeout (the snapshot may take minutes to stream), but connecting and
// waiting for response headers are bounded, so a dead server fails instead
// of hanging. (Not for WebAssembly: a custom dialer bypasses fetch there.)
func HTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: t}
}

// ParseAddress accepts a 0x-prefixed 20-byte hex address (any case; a
// mixed-case address must carry a valid EIP-55 checksum).
func ParseAddress(s string) (common.Address, error) {
	if !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") || !common.IsHexAddress(s) {
		return common.Address{}, fmt.Errorf("%q is not a 0x-prefixed 20-byte hex address", s)
	}
	a := common.HexToAddress(s)
	body := s[2:]
	if body != strings.ToLower(body) && body != strings.ToUpper(body) && a.Hex() != "0x"+body {
		return common.Address{}, fmt.Errorf("%q has a wrong EIP-55 checksum (did you mean %s?)", s, a.Hex())
	}
	return a, nil
}

// Line is the result line: ETH exactly (client.FormatEther) and the wei.
func Line(addr common.Address, res client.Result) string {
	return fmt.Sprintf("%s %s ETH (%s wei) at block %d", addr.Hex(), client.FormatEther(&res.Wei), res.Wei.Dec(), res.Block)
}

// Open makes the client of cfg's deployment over its sealed state in
// cfg.StateDir (one state per CDN), as plinko balance and plinko rpc use
// it; release lets the state go. onProgress may be nil.
func Open(cfg Config, onProgress func(client.Progress)) (c *client.Client, release func(), err error) {
	base := cfg.StateDir
	if base == "" {
		base = DefaultStateDir()
	}
	if cfg.HTTP == nil {
		cfg.HTTP = HTTPClient()
	}
	dir := stateDirFor(base, cfg.CDN)
	ds := client.NewDirStore(dir)
	store := sealed.New(ds, sealed.NewKeys(sealed.Options{
		Dir: dir, Passphrase: cfg.Passphrase, Prompt: cfg.Prompt, Keyring: cfg.Keyring, Logger: cfg.Logger,
	}))
	c, err = client.New(client.Config{
		CDN:        cfg.CDN,
		PIR:        cfg.PIR,
		HTTP:       cfg.HTTP,
		Store:      store,
		OnProgress: onProgress,
		Logger:     cfg.Logger,
		ChainID:    cfg.ChainID,
	})
	if err != nil {
		ds.Close()
		return nil, nil, err
	}
	return c, func() { ds.Close() }, nil
}

// Explain adds what to do to the errors a user can act on.
func Explain(err error) error { return explain(err) }

// Run syncs, looks cfg.Address up privately and prints the result.
func Run(ctx context.Context, cfg Config) error {
	addr, err := ParseAddress(cfg.Address)
	if err != nil {
		return err
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	var bars *Bars
	if cfg.Progress && cfg.Err != nil {
		bars = NewBars(cfg.Err)
	}
	defer bars.Close()
	c, closeState, err := Open(cfg, bars.Update)
	if err != nil {
		return err
	}
	defer closeState()
	if err := c.Sync(ctx); err != nil {
		return explain(fmt.Errorf("syncing hints: %w", err))
	}
	res, err := c.Lookup(ctx, addr)
	if err != nil {
		return explain(fmt.Errorf("private lookup: %w", err))
	}
	bars.Close()
	if !res.Found {
		// Every account holding any wei has an entry: absent means empty.
		fmt.Fprintf(cfg.Out, "No account: %s has no entry in the database at block %d, so it holds 0 wei\n", addr.Hex(), res.Block)
	}
	_, err = fmt.Fprintln(cfg.Out, Line(addr, res))
	return err
}

// explain adds what to do to the errors a user can act on.
func explain(err error) error {
	switch {
	case errors.Is(err, client.ErrSnapshotChecksum):
		return fmt.Errorf("%w (the CDN served a damaged or stale snapshot; try again, or check the CDN)", err)
	case errors.Is(err, client.ErrStorage):
		return fmt.Errorf("%w (is the state directory writable and the disk not full? see --state)", err)
	case errors.Is(err, client.ErrStateInUse):
		return fmt.Errorf("%w (another plinko balance is running with this --state; wait for it to finish)", err)
	case errors.Is(err, sealed.ErrNeedPassphrase):
		return fmt.Errorf("%w (set PLINKO_PASSPHRASE, or pass it with --passphrase-fd N)", err)
	case errors.Is(err, sealed.ErrWrongKey), errors.Is(err, sealed.ErrKeyUnavailable):
		return fmt.Errorf("%w (with the right key it opens again; or remove the --state directory to start over: the hints are rebuilt from the snapshot)", err)
	case errors.Is(err, client.ErrIncompatible):
		return fmt.Errorf("%w (this plinko binary is older or newer than the deployment)", err)
	case errors.Is(err, client.ErrWrongChain):
		return fmt.Errorf("%w (check --cdn and --chain-id; to follow another chain, use another --state directory)", err)
	}
	return err
}

// Bars draws one terminal progress line per client stage while it runs
// (plinko balance and plinko verify). A nil *Bars draws nothing.
type Bars struct {
	w     io.Writer
	stage string
	bar   *progress.Bar
}

// NewBars draws on w (a terminal).
func NewBars(w io.Writer) *Bars { return &Bars{w: w} }

// Update is a client.Config.OnProgress.
func (b *Bars) Update(p client.Progress) {
	// The hints are built while the snapshot streams: the download line
	// shows both.
	if b == nil || p.Stage == client.StageHints {
		return
	}
	if p.Stage != b.stage || b.bar == nil {
		b.Close()
		b.stage = p.Stage
		switch p.Stage {
		case client.StageDownload:
			b.bar = progress.New(b.w, "snapshot + hints", progress.Bytes)
		default:
			b.bar = progress.New(b.w, p.Stage, progress.Count)
		}
	}
	b.bar.Update(p.Done, p.Total)
	if p.Done >= p.Total {
		b.Close() // a finished stage leaves the terminal to what follows
	}
}

// Close finishes the current line.
func (b *Bars) Close() {
	if b != nil && b.bar != nil {
		b.bar.Finish()
		b.bar = nil
		b.stage = ""
	}
}
