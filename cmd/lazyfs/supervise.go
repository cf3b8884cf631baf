package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// exitStatus is the status `lazyfs run` exits with: the node's, so that
// the container's exit code is the node's, as without lazyfs.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("node exited with status %d", int(e)) }

// haltTimeout bounds how long a SIGKILLed node may take to be reaped.
const haltTimeout = 30 * time.Second

// supervisor owns the node process of `lazyfs run`. Its waiter goroutine
// reaps the node and then ends the mount's life (end), after any halt in
// progress has finished with the disk.
type supervisor struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the node is reaped
	status int           // valid after exited

	mu       sync.Mutex
	halting  chan struct{} // closed when the halt's caller is done with the disk
	finished bool          // the node exited and the mount is being torn down
}

// startNode starts the node with lazyfs's standard streams. SIGTERM (ctx
// ending) is passed on to it; its exit ends the mount (end).
func startNode(ctx context.Context, log *slog.Logger, argv []string, end context.CancelFunc) (*supervisor, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := closeOnExec(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node %q: %w", argv[0], err)
	}
	log.Info("node started", "pid", cmd.Process.Pid, "argv", argv)
	s := &supervisor{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the status says how it ended
		s.status = statusOf(cmd.ProcessState)
		close(s.exited)
	}()
	// The owner of this goroutine is the mount: it ends with the node,
	// which it outlives only as long as a halt needs the disk.
	go func() {
		select {
		case <-s.exited:
		case <-ctx.Done():
			log.Info("passing SIGTERM on to the node")
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
				log.Warn("signal node", "err", err)
			}
			<-s.exited
		}
		s.mu.Lock()
		s.finished = true
		h := s.halting
		s.mu.Unlock()
		if h != nil {
			<-h
		}
		end()
	}()
	return s, nil
}

// closeOnExec marks every descriptor above stderr close-on-exec. go-fuse
// opens /dev/fuse with syscall.Open, without O_CLOEXEC, so the node would
// inherit it and keep the FUSE connection alive after lazyfs died: its
// next access to the mount would then wait in the kernel for an answer
// that never comes, uninterruptibly, and not even docker rm -f could end
// the container (seen in the first real run).
func closeOnExec() error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list descriptors: %w", err)
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
	return nil
}

// statusOf is the shell's view of how the node ended: its code, or 128 plus
// the signal that killed it.
func statusOf(ps *os.ProcessState) int {
	if ps == nil {
		return 1 // never ran to an exit: Wait itself failed
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if c := ps.ExitCode(); c >= 0 {
		return c
	}
	return 1
}

// Halt implements lazyfs.Supervised.
func (s *supervisor) Halt() (func(), error) {
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return func() {}, errors.New("the node has already exited")
	}
	if s.halting != nil {
		s.mu.Unlock()
		return func() {}, errors.New("the node is already being halted")
	}
	h := make(chan struct{})
	s.halting = h
	s.mu.Unlock()
	done := sync.OnceFunc(func() { close(h) })
	s.kill()
	select {
	case <-s.exited:
		return done, nil
	case <-time.After(haltTimeout):
		return done, fmt.Errorf("the node did not exit within %s of SIGKILL", haltTimeout)
	}
}

// kill SIGKILLs the node if it still runs.
func (s *supervisor) kill() {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
	}
}

// wait returns the node's status once it has exited.
func (s *supervisor) wait() int {
	<-s.exited
	return s.status
}
