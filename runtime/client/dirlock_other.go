//go:build !unix

package client

import (
	"os"
	"time"
)

// lockDir is a no-op where flock does not exist (the wallet's WebAssembly
// uses IndexedDB and a Web Lock instead of a DirStore).
func lockDir(string, time.Duration) (*os.File, error) { return nil, nil }
