package main

import (
	"github.com/spf13/cobra"

	"github.com/plinko-pir/plinko/runtime/updater"
)

func init() {
	var cfg updater.Config
	cmd := &cobra.Command{
		Use:   "updater",
		Short: "Follow new blocks and publish one xor delta per epoch",
		Long: `updater loads the newest state of the published directory (snapshot plus
deltas; with --database and no manifest yet it publishes that database first),
follows new heads over WebSocket (or polls over HTTP), and for every block
publishes deltas/<epoch>.delta and head.json atomically. A reorg becomes one
correcting delta; every --snapshot-every epochs it writes a fresh snapshot and
prunes deltas more than --retention epochs behind it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = logger()
			return updater.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.RPC, "rpc", "ws://127.0.0.1:8546", "JSON-RPC endpoint: ws:// follows newHeads, http:// polls")
	f.StringVar(&cfg.Dir, "dir", "data/public", "published directory (manifest.json, head.json, snapshot, deltas/)")
	f.StringVar(&cfg.Database, "database", "", "database file from db-gen to publish first when the directory has no manifest")
	f.Uint64Var(&cfg.SnapshotEvery, "snapshot-every", 600, "write a fresh snapshot every K epochs (0: never)")
	f.Uint64Var(&cfg.Retention, "retention", 0, "deltas kept at or below the newest snapshot (default: --snapshot-every)")
	f.DurationVar(&cfg.PollInterval, "poll", 0, "head polling interval without WebSocket (default 1s)")
	f.IntVar(&cfg.Parallel, "parallel", 4, "eth_getBalance batches in flight")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics on GET /metrics at this address, e.g. 0.0.0.0:9090 (default: none)")
	f.Float64Var(&cfg.RegenerateLoad, "regenerate-load", 0, "rebuild the keyword table from the chain when a due snapshot finds it above this load or an insert finds it full (default 0.88; negative: never, stop instead)")
	register(cmd)
}
