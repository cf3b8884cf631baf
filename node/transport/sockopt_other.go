//go:build !linux

package transport

import (
	"syscall"
	"time"
)

// setUserTimeout does nothing where TCP_USER_TIMEOUT is not available:
// stalled streams are then broken only by WriteTimeout and keepalive.
func setUserTimeout(syscall.RawConn, time.Duration) error { return nil }
