//go:build !unix

package plinko

import "time"

func cpuTime() time.Duration { return 0 }
