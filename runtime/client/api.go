package client

import (
	"crypto/cipher"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/holiman/uint256"

	"github.com/plinko-pir/plinko/runtime/plinko"
)

// Progress stages reported through Config.OnProgress.
const (
	// StageDownload counts snapshot bytes received (Total: the snapshot size).
	StageDownload = "download"
	// StageHints counts snapshot bytes folded into the hints (Total: the
	// snapshot size).
	// It runs together with StageDownload: hints are built while streaming.
	StageHints = "hints"
	// StageDeltas counts per-epoch delta files applied (Total: files needed).
	StageDeltas = "deltas"
)

// Progress is one progress report. Done and Total are in the stage's unit.
type Progress struct {
	Stage       string
	Done, Total int64
}

// Config configures a Client.
type Config struct {
	// CDN is the base URL serving manifest.json, head.json, the snapshot and
	// deltas/<epoch>.delta, for example http://127.0.0.1:8081.
	CDN string
	// PIR is the base URL of the pir-server (POST /v1/query).
	PIR string
	// HTTP is the client used for every request; nil means http.DefaultClient.
	HTTP *http.Client
	// Store keeps the state between runs; nil keeps it in memory only.
	Store Store
	// OnProgress, when set, receives progress reports, one call at a time
	// (possibly from goroutines other than the caller's; keep it cheap).
	OnProgress func(Progress)
	// Rand is the randomness for hint keys and query shuffling; nil means
	// crypto/rand.Reader.
	Rand io.Reader
	// Logger receives operational messages (never an address, position or
	// anything derived from a lookup); nil discards them.
	Logger *slog.Logger
	// Keystream, when set, produces the AES-CTR keystream behind the hints'
	// pseudorandom functions (the wallet passes the browser's hardware AES
	// through WebCrypto); nil uses Go's crypto/aes. It only has to agree
	// with itself: hints and queries of one client use the same one.
	Keystream func(key, iv []byte) (cipher.Stream, error)
	// Backups is the number of queries the hints allow before a refresh
	// (a lookup uses 4: three positions and the check); 0 means the
	// scheme's default.
	Backups int
	// Workers is the number of goroutines building hints; 0 means one per
	// CPU (GOMAXPROCS).
	Workers int
	// StallTimeout is how long a request may go without receiving a byte
	// (before the status line, or between body reads) before it is given
	// up and tried once more; 0 means 15 s. It is an idle timeout, not a
	// total one: a large snapshot download takes as long as it takes.
	StallTimeout time.Duration
	// SnapshotTee, when set, receives every snapshot byte as it streams in
	// (after it is hashed); plinko verify uses it to keep one entry. A client
	// that keeps state leaves it nil.
	SnapshotTee io.Writer
	// ChainID is the chain the client accepts (EIP-155 id); a manifest,
	// head or delta of another chain is ErrWrongChain. 0 pins the chain of
	// the saved state, or else of the first manifest fetched (kept with the
	// state from then on).
	ChainID uint64
}

// Result is the outcome of one private lookup.
type Result struct {
	// Wei is the balance, exactly as eth_getBalance gives it at Block; 0
	// when the address has no entry.
	Wei uint256.Int
	// Found reports whether the address has an entry in the database. An
	// account with any balance, 1 wei included, has one; one without an
	// entry held nothing when its table was built and nothing since.
	Found bool
	// ChainID is the chain the database was read from.
	ChainID uint64
	// Epoch, Block and BlockHash name the database state the answer was
	// computed on (the pir-server's epoch, to which the hints were brought).
	Epoch     uint64
	Block     uint64
	BlockHash [32]byte
}

// Status describes the client's state.
type Status struct {
	// Synced is false until hints exist (first Sync, or state loaded).
	Synced bool
	// ChainID is the chain the hints are of (0 before any).
	ChainID uint64
	// Epoch, Block and BlockHash are the database state the hints are at.
	Epoch     uint64
	Block     uint64
	BlockHash [32]byte
	// QueriesLeft is how many PIR queries the hints allow before a refresh;
	// a lookup uses 4 and Lookup refreshes on its own when fewer remain.
	QueriesLeft int
	// Entries is the number of database entries (the keyword table size).
	Entries uint64
}

// Errors callers branch on (all returned wrapped; use errors.Is).
var (
	// ErrSnapshotChecksum: the snapshot's size or sha256 differs from the
	// manifest. Nothing from it was kept.
	ErrSnapshotChecksum = errors.New("snapshot does not match the manifest's size and sha256")
	// ErrCorruptState: saved client state failed verification. The client
	// discards such state and rebuilds from the snapshot.
	ErrCorruptState = errors.New("saved client state is corrupt")
	// ErrStorage: the Store failed to save (disk or browser storage full?).
	ErrStorage = errors.New("saving client state failed")
	// ErrStateInUse: another process holds the DirStore's directory (two
	// clients must not share hints).
	ErrStateInUse = errors.New("another client is using this state directory")
	// ErrServer: a server answered with an unexpected HTTP status.
	ErrServer = errors.New("server error")
	// ErrIncompatible: the published data uses a format or parameters this
	// client does not support.
	ErrIncompatible = errors.New("published data is incompatible with this client")
	// ErrWrongChain: the deployment published a manifest, head or delta of
	// another chain than the one the client is pinned to (Config.ChainID or
	// its saved state). Nothing from it is used.
	ErrWrongChain = errors.New("published data is of another chain")
	// ErrServerBehind: the pir-server answered from an older epoch than the
	// client's hints, twice.
	ErrServerBehind = errors.New("pir-server is behind the client's epoch")
	// ErrTampered: an answer of the pir-server failed the client's check
	// against the published snapshot: the server (or something between)
	// altered it. Nothing from that request was kept and no balance is
	// returned. Errors wrapping it name the server.
	ErrTampered = plinko.ErrTampered
)
