package main

import (
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/plinko-pir/plinko/runtime/client/balance"
)

// Defaults match the URLs `plinko local` prints.
const (
	defaultCDN = "http://127.0.0.1:8081"
	defaultPIR = "http://127.0.0.1:8082"
)

func init() {
	var cfg balance.Config
	var pass passphraseFlags
	cmd := &cobra.Command{
		Use:   "balance [--cdn URL] [--pir URL] [--state DIR] [--passphrase-fd N | --passphrase] 0xADDRESS",
		Short: "Look an address's balance up privately (Plinko PIR)",
		Long: "Syncs hints from the CDN (the first time: streams the snapshot; later: applies deltas),\n" +
			"then asks the pir-server for the address's balance without revealing the address.\n" +
			"The last line is: 0xADDRESS <ETH> ETH (<wei> wei) at block <n>, exactly what eth_getBalance\n" +
			"gives at that block. The client pins the chain id of the first manifest it sees (or --chain-id)\n" +
			"and refuses data of another chain.\n\n" +
			"The state is encrypted at rest: with a passphrase if one is given (--passphrase-fd,\n" +
			passphraseEnv + ", --passphrase), else a key in the OS keyring, else a key file next to\n" +
			"the state (which only protects a copy made without it). See runtime/client/README.md.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Address = args[0]
			cfg.Out = cmd.OutOrStdout()
			cfg.Err = os.Stderr
			cfg.Progress = isTerminal(os.Stderr)
			cfg.Logger = logger()
			var err error
			if cfg.Passphrase, cfg.Prompt, err = pass.resolve(); err != nil {
				return err
			}
			return balance.Run(cmd.Context(), cfg)
		},
	}
	cmd.Flags().StringVar(&cfg.CDN, "cdn", defaultCDN, "CDN base URL (manifest.json, snapshot, deltas)")
	cmd.Flags().StringVar(&cfg.PIR, "pir", defaultPIR, "pir-server base URL")
	cmd.Flags().Uint64Var(&cfg.ChainID, "chain-id", 0, "the only chain id to accept (1 = mainnet); 0: pin the first one seen")
	cmd.Flags().StringVar(&cfg.StateDir, "state", balance.DefaultStateDir(), "directory keeping the hints between runs")
	pass.register(cmd.Flags())
	register(cmd)
}

// isTerminal reports whether f is a terminal (not merely a character
// device such as /dev/null).
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
