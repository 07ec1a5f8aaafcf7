package snapshot

import (
	"fmt"

	"github.com/plinko-pir/plinko/runtime/keyword"
	"github.com/plinko-pir/plinko/runtime/plinko"
)

// Layout returns the Plinko block width W and block count C for a database
// of n keyword entries: exactly what plinko.NewParams chooses, which clients
// recompute to check a manifest.
func Layout(n uint64) (w, c uint64, err error) {
	p, err := plinko.NewParams(n, keyword.EntrySize)
	if err != nil {
		return 0, 0, fmt.Errorf("snapshot: Plinko parameters for %d entries: %w", n, err)
	}
	return uint64(p.W), uint64(p.C), nil
}
