package balance

import (
	"math"
	"testing"

	"github.com/plinko-pir/plinko/runtime/client"
)

func TestFormatGwei(t *testing.T) {
	for _, tc := range []struct {
		gwei uint64
		want string
	}{
		{0, "0.000000000"},
		{1, "0.000000001"},
		{1_000_000_000, "1.000000000"},
		{1_234_567_890_123, "1234.567890123"},
		{math.MaxUint64, "18446744073.709551615"},
	} {
		if got := FormatGwei(tc.gwei); got != tc.want {
			t.Errorf("FormatGwei(%d) = %s, want %s", tc.gwei, got, tc.want)
		}
	}
}

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
	got := Line(a, client.Result{Gwei: 1_500_000_000, Found: true, Block: 42})
	if want := sum + " 1.500000000 ETH (1500000000 gwei) at block 42"; got != want {
		t.Fatalf("line %q, want %q", got, want)
	}
}
