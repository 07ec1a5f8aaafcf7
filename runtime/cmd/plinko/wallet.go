package main

import (
	"os"

	"github.com/plinko-pir/plinko/runtime/wallet"
	"github.com/spf13/cobra"
)

func init() {
	var cfg wallet.Config
	cmd := &cobra.Command{
		Use:   "wallet",
		Short: "Serve the wallet web page (private balance lookups in the browser, Go client compiled to WebAssembly)",
		Long: `Serve the wallet page: static files embedded in this binary, the PIR client
compiled to WebAssembly (served as application/wasm, gzip), /config.json naming
the CDN and pir-server URLs, /healthz and /readyz.

--cdn and --pir are absolute URLs (other hosts: they must send CORS headers)
or paths on the wallet's own host behind one ingress (e.g. /cdn/ and /pir/).

The wasm: --wasm names a prebuilt plinko.wasm (wasm_exec.js beside it is
served with it); without it the wasm is built from the source checkout with
GOOS=js GOARCH=wasm into a cache keyed by the Go version and the sources.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = logger()
			return wallet.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", walletEnv("PLINKO_WALLET_ADDR", "127.0.0.1:8080"), "listen address (env PLINKO_WALLET_ADDR)")
	f.StringVar(&cfg.CDNURL, "cdn", walletEnv("PLINKO_CDN_URL", "http://127.0.0.1:8081"), "CDN base URL or path the page fetches manifest, snapshot and deltas from (env PLINKO_CDN_URL)")
	f.StringVar(&cfg.PIRURL, "pir", walletEnv("PLINKO_PIR_URL", "http://127.0.0.1:8082"), "pir-server base URL or path the page sends queries to (env PLINKO_PIR_URL)")
	f.StringVar(&cfg.WasmPath, "wasm", os.Getenv("PLINKO_WALLET_WASM"), "prebuilt plinko.wasm; empty: build from source on demand (env PLINKO_WALLET_WASM)")
	f.Uint64Var(&cfg.ChainID, "chain-id", 0, "the only chain id the page's client accepts; 0: it pins the first it sees")
	f.StringVar(&cfg.WasmCacheDir, "wasm-cache", os.Getenv("PLINKO_WASM_CACHE"), "cache dir for wasm built on demand; empty: the user cache dir (env PLINKO_WASM_CACHE)")
	register(cmd)
}

// walletEnv returns the environment variable name, or def when it is unset.
func walletEnv(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
