package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/plinko-pir/plinko/runtime/client/balance"
	"github.com/plinko-pir/plinko/runtime/privaterpc"
)

func init() {
	var cfg balance.Config
	var pass passphraseFlags
	var rpcCfg privaterpc.Config
	var listen string
	var syncEvery, coverEvery time.Duration
	cmd := &cobra.Command{
		Use:   "rpc --upstream URL [--upstream-ws URL] [--cdn URL] [--pir URL] [--state DIR] [--listen 127.0.0.1:8545]",
		Short: "A local Ethereum JSON-RPC endpoint for your wallet: balances by private lookup, the rest from your node",
		Long: `plinko rpc listens on --listen (HTTP and WebSocket) as an Ethereum node does:
set it as your wallet's network RPC URL. eth_getBalance (and an ETH-only
balance-checker eth_call) is answered by private lookup at the newest block
the hints know; every other call goes to --upstream as it is, except calls
that would tell the upstream an address (nonce, code, storage, token
balances, log filters on an address): those are refused with a JSON-RPC
error naming the method (--forward-leaky forwards them, logged by method).
Subscriptions (eth_subscribe) need --upstream-ws.

An address looked up before is answered from the hints' own state (a poll
sends nothing); deltas are fetched every --sync-every and a cover request
goes to the pir-server about every --cover-every, whatever the wallet does.

The hints live in --state, encrypted at rest, as for plinko balance (one
state per CDN; plinko balance waits while plinko rpc holds it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := logger()
			host, _, err := net.SplitHostPort(listen)
			if err != nil {
				return fmt.Errorf("--listen %q: want HOST:PORT: %w", listen, err)
			}
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return fmt.Errorf("--listen %q: plinko rpc answers for your wallet alone; listen on a loopback address (127.0.0.1 or ::1)", listen)
			}
			// Listen first: a taken port fails at once, not after the sync.
			ln, err := net.Listen("tcp", listen)
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("%s is taken (a node, or plinko local's dev chain?): choose another address with --listen", listen)
			}
			if err != nil {
				return fmt.Errorf("listening on %s: %w", listen, err)
			}
			defer ln.Close()
			cfg.Logger = log
			if cfg.Passphrase, cfg.Prompt, err = pass.resolve(); err != nil {
				return err
			}
			var bars *balance.Bars
			if isTerminal(os.Stderr) {
				bars = balance.NewBars(os.Stderr)
			}
			c, release, err := balance.Open(cfg, bars.Update)
			if err != nil {
				return err
			}
			defer release()
			if err := c.Sync(cmd.Context()); err != nil {
				return balance.Explain(fmt.Errorf("syncing hints: %w", err))
			}
			bars.Close()
			// The wallet believes the upstream's eth_chainId: the balances
			// must be of that chain.
			if err := privaterpc.CheckChain(cmd.Context(), rpcCfg.Upstream, c.Status().ChainID); err != nil {
				return err
			}
			rpcCfg.Balances = privaterpc.ClientBalances{C: c}
			rpcCfg.Logger = log
			srv, err := privaterpc.New(rpcCfg)
			if err != nil {
				return err
			}
			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
			st := c.Status()
			fmt.Fprintf(cmd.OutOrStdout(), "rpc: http://%s (WebSocket: ws://%s)\nupstream: %s\nhints at block %d; set the rpc URL as your wallet's network RPC URL\n",
				ln.Addr(), ln.Addr(), rpcCfg.Upstream, st.Block)
			go privaterpc.Maintain(cmd.Context(), c, syncEvery, coverEvery, log)
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-cmd.Context().Done():
				shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				return hs.Shutdown(shutdown)
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&rpcCfg.Upstream, "upstream", "", "your node's HTTP(S) JSON-RPC URL (every call but private balances goes there)")
	f.StringVar(&rpcCfg.UpstreamWS, "upstream-ws", "", "your node's WebSocket URL, for eth_subscribe")
	f.BoolVar(&rpcCfg.ForwardLeaky, "forward-leaky", false, "forward calls that carry an address instead of refusing them (each is logged by method)")
	f.BoolVar(&rpcCfg.ForwardUnserved, "forward-unserved", false, "forward eth_getBalance for blocks the hints cannot answer (pending, old blocks) instead of refusing it")
	f.StringVar(&listen, "listen", "127.0.0.1:8545", "loopback HOST:PORT to serve JSON-RPC on")
	f.DurationVar(&syncEvery, "sync-every", 12*time.Second, "how often to fetch new block deltas (on a schedule, not when the wallet asks)")
	f.DurationVar(&coverEvery, "cover-every", 10*time.Minute, "mean time between cover requests to the pir-server, sent whatever the wallet does (0: none)")
	f.StringVar(&cfg.CDN, "cdn", defaultCDN, "CDN base URL (manifest.json, snapshot, deltas)")
	f.StringVar(&cfg.PIR, "pir", defaultPIR, "pir-server base URL")
	f.StringVar(&cfg.StateDir, "state", balance.DefaultStateDir(), "directory keeping the hints between runs")
	f.Uint64Var(&cfg.ChainID, "chain-id", 0, "accept only this chain (default: the chain of the saved state or of the first manifest)")
	pass.register(f)
	_ = cmd.MarkFlagRequired("upstream")
	register(cmd)
}
