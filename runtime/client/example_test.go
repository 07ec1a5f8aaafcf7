//go:build !js

// The examples run a whole deployment (the dev chain included), which does
// not build for WebAssembly.

package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/plinko-pir/plinko/runtime/client"
	"github.com/plinko-pir/plinko/runtime/devnet"
	"github.com/plinko-pir/plinko/runtime/local"
)

// deployment runs the whole system on loopback for the examples (what
// `plinko local` runs); a real program points the client at a deployment's
// CDN and pir-server URLs instead.
func deployment() (*local.System, func()) {
	sys, err := local.Start(context.Background(), local.Config{Accounts: 300, BlockTime: 200 * time.Millisecond, SkipWallet: true,
		WalletPort: -1, CDNPort: -1, PIRPort: -1, RPCPort: -1})
	if err != nil {
		log.Fatal(err)
	}
	if err := sys.WaitReady(context.Background()); err != nil {
		log.Fatal(err)
	}
	return sys, func() { sys.Close() }
}

// Look one address up privately: the pir-server learns nothing about which.
func ExampleClient_Lookup() {
	sys, stop := deployment()
	defer stop()
	ctx := context.Background()

	// Store: client.NewDirStore(dir), wrapped in runtime/client/sealed to
	// keep the hints encrypted at rest; nil keeps them in memory.
	c, err := client.New(client.Config{CDN: sys.CDNURL, PIR: sys.PIRURL})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Lookup(ctx, sys.Example) // syncs first when there are no hints
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("found:", res.Found, "chain:", res.ChainID, "positive:", res.Wei.Sign() > 0)
	// res.Wei is exactly eth_getBalance(address, res.Block).
	// Output: found: true chain: 1337 positive: true
}

// Look a portfolio up in one request, padded to a size class (1, 5, 20 or
// 100 addresses) so that the pir-server learns only the class.
func ExampleClient_LookupMany() {
	sys, stop := deployment()
	defer stop()
	c, err := client.New(client.Config{CDN: sys.CDNURL, PIR: sys.PIRURL})
	if err != nil {
		log.Fatal(err)
	}
	addrs := [][20]byte{sys.FundedAddress(devnet.SenderCount), sys.FundedAddress(devnet.SenderCount + 1), {0xde, 0xad}}
	res, err := c.LookupMany(context.Background(), addrs)
	if err != nil {
		log.Fatal(err)
	}
	for i, r := range res {
		fmt.Println(i, "found:", r.Found)
	}
	fmt.Println("size class:", client.PadAddresses(len(addrs)))
	// Output:
	// 0 found: true
	// 1 found: true
	// 2 found: false
	// size class: 5
}

// Follow new blocks: Sync on a schedule of its own fetches the deltas (the
// same public files for every client), and an address looked up once is
// then answered from the client's state, exact at the newest block, with
// no request at all.
func ExampleClient_Known() {
	sys, stop := deployment()
	defer stop()
	ctx := context.Background()
	c, err := client.New(client.Config{CDN: sys.CDNURL, PIR: sys.PIRURL})
	if err != nil {
		log.Fatal(err)
	}
	first, err := c.Lookup(ctx, sys.FundedAddress(1)) // a traffic sender: changes every block
	if err != nil {
		log.Fatal(err)
	}
	for c.Status().Block < first.Block+3 {
		time.Sleep(200 * time.Millisecond)
		if err := c.Sync(ctx); err != nil {
			log.Fatal(err)
		}
	}
	now, ok := c.Known(sys.FundedAddress(1))
	fmt.Println("known:", ok, "moved on:", now.Block >= first.Block+3)
	// Output: known: true moved on: true
}
