package snapshot

import (
	"fmt"
	"math"
)

// Layout returns the Plinko block width W and block count C for a database
// of n entries. It must agree with plinko.NewParams(n, keyword.EntrySize),
// which clients use to check a manifest.
//
// Until runtime/plinko is committed this follows the shape the scheme uses
// (W about sqrt(n), a power of two; C = ceil(n/W)).
func Layout(n uint64) (w, c uint64, err error) {
	if n == 0 {
		return 0, 0, fmt.Errorf("snapshot: empty database")
	}
	w = 1
	for w*w < n {
		w <<= 1
	}
	if w > math.MaxUint32 {
		return 0, 0, fmt.Errorf("snapshot: database of %d entries too large", n)
	}
	c = (n + w - 1) / w
	return w, c, nil
}
