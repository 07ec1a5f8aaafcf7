package main

import (
	"github.com/plinko-pir/plinko/runtime/devnet"
	"github.com/spf13/cobra"
)

func init() {
	var (
		cfg       devnet.Config
		noTraffic bool
	)
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run a real Ethereum dev chain (go-ethereum) with N deterministic funded accounts and synthetic traffic",
		Long: `Run an in-process go-ethereum dev chain (Prague rules, chain id 1337) with
JSON-RPC over HTTP and WebSocket (eth, net, web3, debug, dev, txpool), N funded
accounts whose addresses and balances follow from --seed, and transfers,
new accounts and withdrawals in every block. Runs until Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Traffic.Disabled = noTraffic
			cfg.Logger = logger()
			return devnet.Run(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Accounts, "accounts", devnet.DefaultAccounts, "funded accounts (up to 2^24; above --alloc-limit the state generator writes them)")
	f.Uint64Var(&cfg.Seed, "seed", 0, "seed of addresses, balances and traffic")
	f.DurationVar(&cfg.BlockTime, "block-time", devnet.DefaultBlockTime, "time between blocks")
	f.StringVar(&cfg.HTTPAddr, "http", "127.0.0.1:8545", "JSON-RPC over HTTP listen address (port 0: any free port)")
	f.StringVar(&cfg.WSAddr, "ws", "127.0.0.1:8546", "JSON-RPC over WebSocket listen address (port 0: any free port)")
	f.StringVar(&cfg.DataDir, "data", "", "data directory for a chain that survives restarts (empty: in memory)")
	f.BoolVar(&noTraffic, "no-traffic", false, "mine empty blocks (no transfers, no withdrawals)")
	f.BoolVar(&cfg.Archive, "archive", false, "keep every block's state (readers such as the updater can replay any block; a crash loses at most the newest block)")
	f.IntVar(&cfg.Traffic.TxPerBlock, "tx-per-block", devnet.DefaultTxPerBlock, "transfers per block")
	f.Uint64Var(&cfg.Traffic.NewAccountEvery, "new-account-every", devnet.DefaultNewAccountEvery, "every k-th block pays a new account")
	f.Uint64Var(&cfg.Traffic.WithdrawalEvery, "withdrawal-every", devnet.DefaultWithdrawalEvery, "every k-th block carries a withdrawal")
	f.Uint64Var(&cfg.GasLimit, "gas-limit", devnet.DefaultGasLimit, "block gas limit")
	f.IntVar(&cfg.GenesisAllocLimit, "alloc-limit", devnet.DefaultGenesisAllocLimit, "largest account count built by genesis alloc; above it the generator writes the state (-1: always the generator)")
	register(cmd)
}
