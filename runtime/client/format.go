package client

import (
	"strings"

	"github.com/holiman/uint256"
)

// FormatEther writes a wei amount as ETH exactly: the whole part, then the 18
// decimals with trailing zeros trimmed ("1", "1.5", "0.000000000001234567").
// No floating point anywhere: what eth_getBalance says, to the wei.
func FormatEther(wei *uint256.Int) string {
	s := wei.Dec()
	if len(s) <= 18 {
		s = strings.Repeat("0", 19-len(s)) + s
	}
	whole, frac := s[:len(s)-18], strings.TrimRight(s[len(s)-18:], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}
