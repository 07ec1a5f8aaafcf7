package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/plinko-pir/plinko/runtime/client/balance"
	"github.com/plinko-pir/plinko/runtime/verify"
)

func init() {
	var cfg verify.Config
	cmd := &cobra.Command{
		Use:   "verify --wallet URL --cdn URL --pir URL [--rpc URL]",
		Short: "Check a running deployment: health, published files, wallet, one private lookup, freshness",
		Long: "Prints one line per check (ok or FAIL with the detail) and exits non-zero if any failed.\n" +
			"The private lookup builds throwaway hints from the snapshot, so it downloads the snapshot once.\n" +
			"With --rpc (a node you trust), the chain id, the blocks the snapshot and the newest delta name\n" +
			"(hash and state root) and the freshness are checked against that node.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Out = cmd.OutOrStdout()
			if isTerminal(os.Stderr) {
				bars := balance.NewBars(os.Stderr)
				defer bars.Close()
				cfg.OnProgress = bars.Update
			}
			_, err := verify.Run(cmd.Context(), cfg)
			return err
		},
	}
	cmd.Flags().StringVar(&cfg.Wallet, "wallet", "", "wallet page base URL")
	cmd.Flags().StringVar(&cfg.CDN, "cdn", "", "CDN base URL")
	cmd.Flags().StringVar(&cfg.PIR, "pir", "", "pir-server base URL")
	cmd.Flags().StringVar(&cfg.RPC, "rpc", "", "JSON-RPC URL of a node you trust: checks the published chain id, block hashes and state roots against it, and that the served epoch is within 2 blocks of its head")
	for _, f := range []string{"wallet", "cdn", "pir"} {
		_ = cmd.MarkFlagRequired(f)
	}
	register(cmd)
}
