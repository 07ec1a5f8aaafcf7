package main

import (
	"github.com/spf13/cobra"

	"github.com/plinko-pir/plinko/runtime/snapshot"
)

func init() {
	var cfg snapshot.Config
	cmd := &cobra.Command{
		Use:   "hint-gen",
		Short: "Lay the database out for clients: snapshot, manifest.json and head.json",
		Long: `hint-gen verifies the database file written by db-gen, pads it to the C*W
layout of the Plinko parameters and publishes it in the output directory as a
content-addressed snapshot, then manifest.json, then head.json, each atomically.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = logger()
			_, err := snapshot.Run(cmd.Context(), cfg)
			return err
		},
	}
	cmd.Flags().StringVar(&cfg.Database, "database", "data/database.bin", "database file written by db-gen")
	cmd.Flags().StringVar(&cfg.Out, "out", "data/public", "published directory (manifest.json, head.json, snapshot, deltas/)")
	register(cmd)
}
