package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/plinko-pir/plinko/runtime/loadgen"
)

func init() {
	var (
		cdn, pir string
		cfg      loadgen.Config
	)
	cmd := &cobra.Command{
		Use:   "loadgen",
		Short: "Send bounded PIR query load to a pir-server on this machine and print lookups/s and latency",
		Long: `loadgen sends well-formed random Plinko query batches (the server's work
is the same as for real lookups) over --conns connections for --duration, to
a pir-server on 127.0.0.1 or ::1 only, and prints the rate of answered
batches and their latency. With plinko local running:

  plinko loadgen --cdn http://127.0.0.1:8081 --pir http://127.0.0.1:8082`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, epoch, err := loadgen.Discover(cmd.Context(), cdn, pir)
			if err != nil {
				return err
			}
			cfg.URL, cfg.Params, cfg.Epoch = pir, p, epoch
			res, err := loadgen.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "n=%d entry=%dB W=%d C=%d, %d queries per batch, %d connections, %v\n",
				p.N, p.EntrySize, p.W, p.C, cfg.Batch, cfg.Conns, res.Elapsed.Round(time.Millisecond))
			fmt.Fprintf(cmd.OutOrStdout(), "%d batches answered (%.0f/s), %d errors, latency p50 %v p99 %v max %v\n",
				res.Requests, res.PerSecond(), res.Errors, res.P50, res.P99, res.Max)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cdn, "cdn", "http://127.0.0.1:8081", "CDN base URL (for the manifest)")
	f.StringVar(&pir, "pir", "http://127.0.0.1:8082", "pir-server base URL (loopback only)")
	f.IntVar(&cfg.Conns, "conns", 4, "concurrent connections")
	f.IntVar(&cfg.Batch, "batch", 4, "queries per request (4 = one lookup: three keyword positions and the check)")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to send")
	register(cmd)
}
