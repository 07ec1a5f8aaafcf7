package main

import (
	"github.com/spf13/cobra"

	"github.com/plinko-pir/plinko/runtime/cdn"
)

func init() {
	var cfg cdn.Config
	cmd := &cobra.Command{
		Use:   "cdn",
		Short: "Serve manifest, snapshot and deltas (gzip, ETag, Range, CORS, immutable caching)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = logger()
			return cdn.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Dir, "dir", "data/public", "dataset directory to serve (manifest.json, head.json, snapshot, deltas/)")
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:8081", "listen address")
	f.StringVar(&cfg.GzipDir, "gzip-dir", "", `where precompressed .gz copies are written (default: --dir; "-" turns it off)`)
	f.DurationVar(&cfg.WriteTimeout, "write-timeout", 0, "longest time to send one response (default 30m: the snapshot is large)")
	register(cmd)
}
