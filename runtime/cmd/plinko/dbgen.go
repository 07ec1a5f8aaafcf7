package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/plinko-pir/plinko/runtime/dbgen"
)

func init() {
	var cfg dbgen.Config
	cmd := &cobra.Command{
		Use:   "db-gen",
		Short: "Read every account balance from a JSON-RPC endpoint into the database file",
		Long: `db-gen reads the chain id and every account with its balance at one block,
either by paging debug_accountRange (keyed by trie key: no preimages needed) or,
with --addresses, by batched eth_getBalance for the listed addresses, keeps
every balance exactly in wei (a balance wider than an entry's 96 bits is an
error, never saturated), places the accounts in the keyword table and writes
the database file, naming the chain id, block and state root, atomically.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = logger()
			cfg.Progress = os.Stderr
			_, err := dbgen.Run(cmd.Context(), cfg)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.RPC, "rpc", "http://127.0.0.1:8545", "JSON-RPC endpoint (http or ws)")
	f.StringVar(&cfg.Block, "block", "latest", "block: latest, a number or a 0x hash")
	f.StringVar(&cfg.Addresses, "addresses", "", "address list file (one 0x address per line): use eth_getBalance instead of debug_accountRange")
	f.StringVar(&cfg.Output, "out", "data/database.bin", "database file to write")
	f.Float64Var(&cfg.Load, "load", 0, "keyword table load factor (default 0.85)")
	f.Uint64Var(&cfg.TableSize, "table-size", 0, "fixed keyword table size (multiple of 3; default from --load and --headroom)")
	f.IntVar(&cfg.Headroom, "headroom", 0, "new accounts the table must take before it needs a new db-gen (default 65536; -1: none)")
	f.IntVar(&cfg.Parallel, "parallel", 4, "JSON-RPC calls in flight")
	f.StringVar(&cfg.Seed, "seed", "", "keyword seed, 64 hex digits (default: derived from the block hash)")
	register(cmd)
}
