package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/plinko-pir/plinko/runtime/probe"
)

func init() {
	var (
		dir    string
		maxAge time.Duration
	)
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Exit non-zero unless the published head.json is valid and recent (the updater's exec probe)",
		Long: `probe is a health check for the kubelet to run inside the updater's
container (distroless: no shell): it succeeds when head.json in the published
directory decodes and was rewritten within --max-age (the updater rewrites it
for every block).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return probe.Fresh(dir, maxAge, time.Now())
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "data/public", "published directory")
	cmd.Flags().DurationVar(&maxAge, "max-age", 5*time.Minute, "longest time since head.json was written")
	register(cmd)
}
