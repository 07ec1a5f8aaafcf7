package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plinko-pir/plinko/runtime/local"
)

func init() {
	var cfg local.Config
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run the whole system on 127.0.0.1: dev chain, db-gen, hint-gen, updater, pir-server, cdn and wallet",
		Long: `Run the whole system on 127.0.0.1 in one process: a dev chain with funded
accounts and steady traffic, db-gen and hint-gen, the updater, the pir-server,
the cdn and the wallet page. Prints one URL per service and a funded example
address; Ctrl-C stops everything. With --data DIR the chain, the database and
the published files survive restarts.`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{quietAnnotation: "yes"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = logger()
			cfg.Progress = os.Stderr
			cfg.Command = selfCommand()
			return local.Run(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Data, "data", "", "directory kept across restarts (chain, database, published files, updater state); default: a temporary one")
	f.IntVar(&cfg.Accounts, "accounts", local.DefaultAccounts, "funded accounts on the dev chain")
	f.DurationVar(&cfg.BlockTime, "block-time", local.DefaultBlockTime, "time between blocks")
	f.Uint64Var(&cfg.Seed, "seed", 0, "dev chain seed (addresses and balances)")
	f.DurationVar(&cfg.StatusEvery, "status-every", 30*time.Second, "how often to print the status line")
	f.IntVar(&cfg.WalletPort, "wallet-port", local.DefaultWalletPort, "wallet page port (-1: any free port)")
	f.IntVar(&cfg.CDNPort, "cdn-port", local.DefaultCDNPort, "cdn port (-1: any free port)")
	f.IntVar(&cfg.PIRPort, "pir-port", local.DefaultPIRPort, "pir-server port (-1: any free port)")
	f.IntVar(&cfg.RPCPort, "rpc-port", local.DefaultRPCPort, "dev chain JSON-RPC port, WebSocket on the next one (-1: any free port)")
	f.IntVar(&cfg.MetricsPort, "metrics-port", 0, "port of the updater's /metrics (default: any free port, logged at start)")
	register(cmd)
}

// selfCommand is how the user started plinko, for the example command that
// local prints. `go run` runs a binary from a temporary go-build directory
// or, since Go 1.24, from the build cache (GOCACHE/xx/<64 hex>-d/plinko).
func selfCommand() string {
	self := filepath.ToSlash(os.Args[0])
	if strings.Contains(self, "/go-build") || goRunCached.MatchString(self) {
		return "go run ./runtime/cmd/plinko"
	}
	return os.Args[0]
}

var goRunCached = regexp.MustCompile(`/[0-9a-f]{2}/[0-9a-f]{64}-d/[^/]+$`)
