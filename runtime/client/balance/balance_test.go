package balance

import (
	"testing"

	"github.com/holiman/uint256"

	"github.com/plinko-pir/plinko/runtime/client"
)

func TestParseAddressAndLine(t *testing.T) {
	const lower = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
	const sum = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	for _, in := range []string{lower, sum, "0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED"} {
		a, err := ParseAddress(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if a.Hex() != sum {
			t.Fatalf("%s parsed as %s", in, a.Hex())
		}
	}
	for _, bad := range []string{"", "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "0x12", lower + "00", "0xzzaeb6053f3e94c9b9a09f33669435e7ef1beaed"} {
		if _, err := ParseAddress(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	a, _ := ParseAddress(lower)
	for wei, want := range map[string]string{
		"1500000000000000000": sum + " 1.5 ETH (1500000000000000000 wei) at block 42",
		"1234567":             sum + " 0.000000000001234567 ETH (1234567 wei) at block 42",
		"0":                   sum + " 0 ETH (0 wei) at block 42",
	} {
		if got := Line(a, client.Result{Wei: *uint256.MustFromDecimal(wei), Found: true, Block: 42}); got != want {
			t.Fatalf("line %q, want %q", got, want)
		}
	}
}
