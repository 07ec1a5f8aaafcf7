// Command plinko is the one binary of the product: every component is a
// subcommand (devnet, db-gen, hint-gen, updater, pir-server, cdn, wallet,
// local, balance, verify), so that each container image runs one of them and
// `go run ./runtime/cmd/plinko <subcommand>` works from a fresh clone.
//
// Each subcommand lives in its own file here and registers itself with
// register() from an init function; the work itself lives in the runtime
// package named after it, so this package stays thin.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

var root = &cobra.Command{
	Use:           "plinko",
	Short:         "Private Ethereum balance lookups with Plinko PIR",
	SilenceUsage:  true,
	SilenceErrors: true,
}

// register adds a subcommand to the root command; called from init functions.
func register(cmd *cobra.Command) { root.AddCommand(cmd) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "plinko:", err)
		os.Exit(1)
	}
}
