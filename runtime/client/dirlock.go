package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// lockDir takes an exclusive lock on dir/lock (flock on Unix, LockFileEx on
// Windows), held until Close or the process exits (the kernel drops it even
// on a crash). Two processes using one state directory would use the same
// hints for the same index, which lets the server link their queries. It
// waits up to wait for another process to let go, then ErrStateInUse.
func lockDir(dir string, wait time.Duration) (*flock.Flock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	l := flock.New(filepath.Join(dir, "lock"), flock.SetPermissions(0o600))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ok, err := l.TryLockContext(ctx, 50*time.Millisecond)
	switch {
	case ok:
		return l, nil
	case err == nil, errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("state directory %s: %w", dir, ErrStateInUse)
	default:
		return nil, fmt.Errorf("locking state directory %s: %w", dir, err)
	}
}
