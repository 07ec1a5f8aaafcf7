package client

import (
	"testing"

	"github.com/holiman/uint256"
)

func TestFormatEther(t *testing.T) {
	for _, tc := range []struct{ wei, want string }{
		{"0", "0"},
		{"1", "0.000000000000000001"},
		{"1234567", "0.000000000001234567"},                                 // dust under 1 gwei
		{"1234567000", "0.000000001234567"},                                 // 1.234567 gwei
		{"1000000000000000000", "1"},                                        // 1 ETH
		{"1500000000000000000", "1.5"},                                      // trailing zeros trimmed
		{"120000000000000000000000000", "120000000"},                        // all ETH that exists
		{"79228162514264337593543950335", "79228162514.264337593543950335"}, // 2^96-1
	} {
		w := uint256.MustFromDecimal(tc.wei)
		if got := FormatEther(w); got != tc.want {
			t.Errorf("FormatEther(%s) = %s, want %s", tc.wei, got, tc.want)
		}
	}
}
