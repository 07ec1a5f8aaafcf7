package main

import (
	"github.com/spf13/cobra"

	"github.com/plinko-pir/plinko/runtime/pirserver"
)

func init() {
	var cfg pirserver.Config
	cmd := &cobra.Command{
		Use:   "pir-server",
		Short: "Answer Plinko PIR queries over the in-memory database, following the published deltas",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = logger()
			return pirserver.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Source, "source", "data/public", "published dataset: a directory or a CDN URL (http://...), optionally ending in manifest.json")
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:8082", "listen address")
	f.DurationVar(&cfg.Poll, "poll", 0, "how often manifest.json and head.json are checked (default 250ms for a directory, 1s for a CDN)")
	f.IntVar(&cfg.MaxBodyBytes, "max-body", pirserver.DefaultMaxBodyBytes, "largest query batch in bytes")
	f.DurationVar(&cfg.AheadWait, "ahead-wait", 0, "how long a query built on newer hints than the served epoch waits for the server to catch up before 425 (default 2s)")
	f.IntVar(&cfg.MaxAheadWaiters, "max-ahead-waiters", 0, "queries that may wait that way at once; past it they get 425 at once (default 64)")
	register(cmd)
}
