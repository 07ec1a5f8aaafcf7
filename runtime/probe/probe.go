// Package probe holds health checks for components that serve no HTTP, run
// by the kubelet as exec probes (`plinko probe ...`): the runtime image is
// distroless, with no shell or curl, so the check is part of the binary.
package probe

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/plinko-pir/plinko/runtime/dataset"
)

// ErrStale means the published head has not moved for longer than allowed.
var ErrStale = errors.New("published head is stale")

// Fresh checks the updater's liveness from what it publishes: head.json in
// the published directory dir is valid and was rewritten within maxAge of
// now (the updater rewrites it for every block).
func Fresh(dir string, maxAge time.Duration, now time.Time) error {
	d := dataset.Dir(dir)
	st, err := os.Stat(d.HeadPath())
	if err != nil {
		return fmt.Errorf("checking head.json: %w", err)
	}
	head, err := d.ReadHead()
	if err != nil {
		return err
	}
	if age := now.Sub(st.ModTime()); age > maxAge {
		return fmt.Errorf("%w: head.json (epoch %d) last written %s ago, allowed %s",
			ErrStale, head.Epoch, age.Round(time.Second), maxAge)
	}
	return nil
}
