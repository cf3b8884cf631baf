package lazyfs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"time"
)

// The control protocol is one line per connection: the client sends a
// command, the server answers "ok <json>" or "error <message>" and closes.
// A unix socket outside the mount is what `docker exec` can reach without
// going through the filesystem under test, and one command per connection
// keeps a client that dies halfway from wedging the next one.
//
// Commands:
//
//	drop [--torn]        power loss: lose everything not fsynced
//	fsync-error on|off|lose
//	                     fsync returns EIO until turned off; lose: a failed
//	                     fsync also loses the file's unflushed writes
//	slow-fsync DURATION  every fsync first waits DURATION (0 turns it off)
//	status               what a drop would lose, which faults are on
//	sync                 make everything durable now, as sync(1) does
//	kill                 SIGKILL the supervised node; the host lives on, so
//	                     nothing is lost and lazyfs then exits (lazyfs run)
//	power-loss [--torn]  SIGKILL the supervised node, drop, exit (lazyfs run)

// ctlTimeout bounds how long one client may take to send its command.
const ctlTimeout = 10 * time.Second

// Controller executes control commands against a model. Drops draw from
// rng, so a recorded seed replays the same torn writes; commands run one at
// a time, which also keeps rng (not safe for concurrent use) to one user.
type Controller struct {
	m    *Model
	rng  *rand.Rand
	log  *slog.Logger
	node Supervised
}

// Supervised is the node process that `lazyfs run` starts on the mount.
// kill and power-loss need one: a drop while the node runs would leave it
// holding descriptors to files that no longer exist, so the node goes
// first, and the container with it, as when a machine loses power.
type Supervised interface {
	// Halt SIGKILLs the node and returns once it has exited. The
	// supervisor then waits for done before it unmounts and exits, so
	// that nothing is flushed under a drop that is still running. done
	// must be called exactly once, even when Halt fails.
	Halt() (done func(), err error)
}

// NewController returns a controller for m.
func NewController(m *Model, rng *rand.Rand, log *slog.Logger) *Controller {
	return &Controller{m: m, rng: rng, log: log}
}

// Supervise gives the controller the node that kill and power-loss act on.
func (c *Controller) Supervise(node Supervised) { c.node = node }

// PowerLossReport is the answer to power-loss.
type PowerLossReport struct {
	Halted bool       `json:"halted"`
	Drop   DropReport `json:"drop"`
}

// halt stops the supervised node, then runs then (nil: nothing).
func (c *Controller) halt(cmd string, then func() (any, error)) (any, error) {
	if c.node == nil {
		return nil, fmt.Errorf("%s: no node is supervised (use lazyfs run)", cmd)
	}
	done, err := c.node.Halt()
	defer done()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	if then == nil {
		return PowerLossReport{Halted: true}, nil
	}
	return then()
}

// Do runs one command line and returns the JSON result.
func (c *Controller) Do(line string) (string, error) {
	args := strings.Fields(line)
	if len(args) == 0 {
		return "", errors.New("empty command")
	}
	var res any
	switch cmd, rest := args[0], args[1:]; {
	case cmd == "drop" && len(rest) == 0:
		rep, err := c.m.Drop(false, c.rng)
		if err != nil {
			return "", err
		}
		res = rep
	case cmd == "drop" && len(rest) == 1 && rest[0] == "--torn":
		rep, err := c.m.Drop(true, c.rng)
		if err != nil {
			return "", err
		}
		res = rep
	case cmd == "fsync-error" && len(rest) == 1 && (rest[0] == "on" || rest[0] == "off"):
		c.m.SetFsyncError(rest[0] == "on")
		res = c.m.Status()
	case cmd == "fsync-error" && len(rest) == 1 && rest[0] == "lose":
		c.m.SetFsyncErrorLosing()
		res = c.m.Status()
	case cmd == "slow-fsync" && len(rest) == 1:
		d, err := time.ParseDuration(rest[0])
		if err != nil || d < 0 {
			return "", fmt.Errorf("slow-fsync: bad duration %q", rest[0])
		}
		c.m.SetFsyncDelay(d)
		res = c.m.Status()
	case cmd == "status" && len(rest) == 0:
		res = c.m.Status()
	case cmd == "sync" && len(rest) == 0:
		if err := c.m.FlushAll(); err != nil {
			return "", fmt.Errorf("sync: %w", err)
		}
		res = c.m.Status()
	case cmd == "kill" && len(rest) == 0:
		r, err := c.halt(cmd, nil)
		if err != nil {
			return "", err
		}
		res = r
	case cmd == "power-loss" && (len(rest) == 0 || len(rest) == 1 && rest[0] == "--torn"):
		torn := len(rest) == 1
		r, err := c.halt(cmd, func() (any, error) {
			rep, err := c.m.Drop(torn, c.rng)
			return PowerLossReport{Halted: true, Drop: rep}, err
		})
		if err != nil {
			return "", err
		}
		res = r
	default:
		return "", fmt.Errorf("unknown command %q (want drop [--torn], fsync-error on|off|lose, slow-fsync DURATION, status, sync, kill, power-loss [--torn])", line)
	}
	c.log.Info("control command", "cmd", line)
	b, err := json.Marshal(res)
	if err != nil {
		return "", fmt.Errorf("encode result: %w", err)
	}
	return string(b), nil
}

// Serve answers control connections on ln until ctx ends, then closes ln.
// It returns nil after ctx ends and the accept error otherwise.
func (c *Controller) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept control connection: %w", err)
		}
		c.serveConn(conn)
	}
}

func (c *Controller) serveConn(conn net.Conn) {
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(ctlTimeout)); err != nil {
		c.log.Warn("control deadline", "err", err)
		return
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		c.log.Warn("read control command", "err", err)
		return
	}
	reply := ""
	if out, err := c.Do(strings.TrimSpace(line)); err != nil {
		c.log.Warn("control command failed", "cmd", strings.TrimSpace(line), "err", err)
		reply = "error " + strings.ReplaceAll(err.Error(), "\n", "; ") + "\n"
	} else {
		reply = "ok " + out + "\n"
	}
	if _, err := conn.Write([]byte(reply)); err != nil {
		c.log.Warn("write control reply", "err", err)
	}
}

// Control sends one command to the control socket and returns the JSON
// result, or the server's error.
func Control(ctx context.Context, socket, command string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return "", fmt.Errorf("dial control socket: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return "", fmt.Errorf("set deadline: %w", err)
		}
	}
	if _, err := conn.Write([]byte(command + "\n")); err != nil {
		return "", fmt.Errorf("send command: %w", err)
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read reply: %w", err)
	}
	reply = strings.TrimSuffix(reply, "\n")
	if out, ok := strings.CutPrefix(reply, "ok "); ok {
		return out, nil
	}
	if msg, ok := strings.CutPrefix(reply, "error "); ok {
		return "", fmt.Errorf("lazyfs: %s", msg)
	}
	return "", fmt.Errorf("malformed reply %q", reply)
}
