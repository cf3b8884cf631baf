package transport

import (
	"fmt"
	"math"
	"syscall"
	"time"
)

// tcpUserTimeout is TCP_USER_TIMEOUT from <linux/tcp.h> (Linux 2.6.37+).
// The frozen syscall package lacks it, and golang.org/x/sys is not a direct
// requirement of this module.
const tcpUserTimeout = 18

// setUserTimeout sets TCP_USER_TIMEOUT on the socket: once data it sent
// stays unacknowledged for d, the kernel aborts the connection and the next
// read or write fails with ETIMEDOUT, instead of retransmitting with
// exponential back-off for about 15 minutes (tcp_retries2). It also caps
// how long keepalive probes may go unanswered.
func setUserTimeout(c syscall.RawConn, d time.Duration) error {
	ms := min(d.Milliseconds(), math.MaxInt32)
	if ms <= 0 {
		return nil
	}
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(ms))
	}); err != nil {
		return fmt.Errorf("set TCP_USER_TIMEOUT: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("set TCP_USER_TIMEOUT to %dms: %w", ms, serr)
	}
	return nil
}
