// Package clienttest starts a small real deployment on loopback for tests of
// the client's users (plinko balance, plinko verify): a published dataset of
// random accounts served by the cdn package, a pir-server following it, and
// optionally the wallet page. Only tests import it.
package clienttest

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/plinko-pir/plinko/runtime/cdn"
	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/keyword"
	"github.com/plinko-pir/plinko/runtime/pirserver"
	"github.com/plinko-pir/plinko/runtime/plinko"
	"github.com/plinko-pir/plinko/runtime/wallet"
)

// Options shape a deployment.
type Options struct {
	Accounts int    // funded accounts in the table (default 400)
	Block    uint64 // the snapshot's block and epoch (default 100)
	Wallet   bool   // also serve the wallet page (with a minimal .wasm)
	// ChainID the files name (default ChainID).
	ChainID uint64
	// Header names the hash and state root of a block number (a real
	// chain's, for plinko verify's block checks); nil: made-up ones.
	Header func(number uint64) (hash, root dataset.Hash)
}

// ChainID is the chain id the deployment's files name.
const ChainID = 31337

// Account is one funded account of the deployment.
type Account struct {
	Address [20]byte
	Wei     uint256.Int
}

// RandomWei draws a non-zero balance of any width an entry holds: a tenth
// of them dust under 1 gwei, the rest up to about 7.9e10 ETH.
func RandomWei(r *rand.Rand) uint256.Int {
	if r.IntN(10) == 0 {
		return *uint256.NewInt(r.Uint64N(1e9-1) + 1)
	}
	w := uint256.Int{r.Uint64(), r.Uint64() & (1<<32 - 1), 0, 0}
	w.Rsh(&w, uint(r.IntN(keyword.BalanceBits)))
	if w.IsZero() {
		w.SetOne()
	}
	return w
}

// Deployment is a running deployment; everything stops when the test ends.
type Deployment struct {
	Dir      dataset.Dir
	Table    *keyword.Table
	Accounts []Account // current balances
	CDN, PIR string
	Wallet   string // empty unless Options.Wallet
	Epoch    uint64
	Block    uint64
	ChainID  uint64
	Server   *pirserver.Server
	header   func(number uint64) (hash, root dataset.Hash)
}

// Wasm is a valid (empty) WebAssembly module the wallet serves in tests.
var Wasm = []byte("\x00asm\x01\x00\x00\x00")

// Start publishes the dataset and starts the services.
func Start(t testing.TB, opt Options) *Deployment {
	t.Helper()
	if opt.Accounts == 0 {
		opt.Accounts = 400
	}
	if opt.Block == 0 {
		opt.Block = 100
	}
	if opt.ChainID == 0 {
		opt.ChainID = ChainID
	}
	if opt.Header == nil {
		opt.Header = func(n uint64) (dataset.Hash, dataset.Hash) { return hashOf(n), rootOf(n) }
	}
	d := &Deployment{Dir: dataset.Dir(t.TempDir()), Epoch: opt.Block, Block: opt.Block, ChainID: opt.ChainID, header: opt.Header}
	d.publish(t, opt.Accounts)
	ctx, cancel := context.WithCancel(context.Background())

	c, err := cdn.New(cdn.Config{Dir: string(d.Dir), GzipDir: "-"})
	if err != nil {
		t.Fatal(err)
	}
	cln := listen(t)
	cdone := make(chan struct{})
	go func() { defer close(cdone); _ = c.Serve(ctx, cln) }()
	d.CDN = "http://" + cln.Addr().String()

	p, err := pirserver.New(pirserver.Config{Source: string(d.Dir), Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	pln := listen(t)
	pdone := make(chan struct{})
	go func() { defer close(pdone); _ = p.Serve(ctx, pln) }()
	d.PIR = "http://" + pln.Addr().String()
	d.Server = p

	var ws *httptest.Server
	if opt.Wallet {
		wdir := t.TempDir()
		if err := os.WriteFile(filepath.Join(wdir, "plinko.wasm"), Wasm, 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := wallet.New(ctx, wallet.Config{CDNURL: d.CDN, PIRURL: d.PIR, WasmPath: filepath.Join(wdir, "plinko.wasm")})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		ws = httptest.NewServer(w)
		d.Wallet = ws.URL
	}
	t.Cleanup(func() {
		if ws != nil {
			ws.Close()
		}
		cancel()
		<-cdone
		<-pdone
		c.Close()
	})
	d.WaitServed(t, d.Epoch)
	return d
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// publish writes a keyword table of random accounts as snapshot, manifest
// and head.
func (d *Deployment) publish(t testing.TB, accounts int) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(accounts), d.Block))
	d.Accounts = make([]Account, accounts)
	kacc := make([]keyword.Account, accounts)
	for i := range d.Accounts {
		for j := range d.Accounts[i].Address {
			d.Accounts[i].Address[j] = byte(r.Uint32())
		}
		d.Accounts[i].Wei = RandomWei(r)
		kacc[i] = keyword.Account{Key: keyword.KeyOf(d.Accounts[i].Address), Balance: d.Accounts[i].Wei}
	}
	m, err := keyword.TableSizeFor(uint64(accounts), keyword.DefaultLoad)
	if err != nil {
		t.Fatal(err)
	}
	kw := keyword.Params{TableSize: m}
	kw.Seed[1] = 9
	if d.Table, err = keyword.Build(kw, kacc); err != nil {
		t.Fatal(err)
	}
	p, err := plinko.NewParams(m, keyword.EntrySize)
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.Dir.WriteSnapshot(d.Table.Bytes(), uint64(p.DBSize())-m*keyword.EntrySize)
	if err != nil {
		t.Fatal(err)
	}
	hash, root := d.header(d.Block)
	man := &dataset.Manifest{FormatVersion: dataset.FormatVersion, ChainID: d.ChainID, Epoch: d.Epoch, BlockNumber: d.Block,
		BlockHash: hash, StateRoot: root,
		N: m, W: uint64(p.W), C: uint64(p.C), EntrySize: keyword.EntrySize, Keyword: dataset.KeywordOf(kw), Files: []dataset.File{f}}
	if err := d.Dir.WriteManifest(man); err != nil {
		t.Fatal(err)
	}
	d.writeHead(t, d.Epoch+1)
}

func hashOf(block uint64) dataset.Hash {
	var h dataset.Hash
	h[0], h[1] = 0xb1, byte(block)
	return h
}

func rootOf(block uint64) dataset.Hash {
	var h dataset.Hash
	h[0], h[1] = 0x5e, byte(block)
	return h
}

func (d *Deployment) writeHead(t testing.TB, oldest uint64) {
	t.Helper()
	man, err := d.Dir.ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := d.header(d.Block)
	if err := d.Dir.WriteHead(&dataset.Head{FormatVersion: dataset.FormatVersion, ChainID: d.ChainID, Epoch: d.Epoch, BlockNumber: d.Block,
		BlockHash: hash, SnapshotEpoch: man.Epoch, OldestDelta: oldest}); err != nil {
		t.Fatal(err)
	}
}

// Advance publishes one epoch in which up to changes accounts get a new
// balance, and waits until the pir-server serves it.
func (d *Deployment) Advance(t testing.TB, r *rand.Rand, changes int) {
	t.Helper()
	before := bytes.Clone(d.Table.Bytes())
	for i := 0; i < changes; i++ {
		a := &d.Accounts[r.IntN(len(d.Accounts))]
		tag, _ := d.Table.Params().Locate(a.Address)
		pos, ok := d.Table.Find(tag)
		if !ok {
			t.Fatal("account missing from its table")
		}
		a.Wei = RandomWei(r)
		if err := d.Table.SetBalance(pos, &a.Wei); err != nil {
			t.Fatal(err)
		}
	}
	hash, root := d.header(d.Block + 1)
	parent, _ := d.header(d.Block)
	delta := &dataset.Delta{ChainID: d.ChainID, Epoch: d.Epoch + 1, BlockNumber: d.Block + 1, BlockHash: hash,
		ParentHash: parent, StateRoot: root, EntrySize: keyword.EntrySize}
	after := d.Table.Bytes()
	const es = keyword.EntrySize
	for i := uint64(0); i < uint64(len(after))/es; i++ {
		x := make([]byte, es)
		nz := false
		for j := range x {
			x[j] = before[i*es+uint64(j)] ^ after[i*es+uint64(j)]
			nz = nz || x[j] != 0
		}
		if nz {
			delta.Records = append(delta.Records, dataset.Record{Index: i, XOR: x})
		}
	}
	if err := d.Dir.WriteDelta(delta); err != nil {
		t.Fatal(err)
	}
	h, err := d.Dir.ReadHead()
	if err != nil {
		t.Fatal(err)
	}
	d.Epoch, d.Block = delta.Epoch, delta.BlockNumber
	d.writeHead(t, h.OldestDelta)
	d.WaitServed(t, d.Epoch)
}

// WaitServed waits until the pir-server serves epoch.
func (d *Deployment) WaitServed(t testing.TB, epoch uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if e, ok := d.Server.Current(); ok && e.Epoch >= epoch {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("pir-server not serving epoch %d", epoch)
}
