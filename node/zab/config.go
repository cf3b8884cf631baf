package zab

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
)

// Config configures one Node. All durations are in ticks; the server decides
// how long a tick is (ZooKeeper's tickTime).
type Config struct {
	// ID is this peer's server id (myid), non-zero.
	ID uint64
	// Voters are the ids of the voting members (participants), ID included
	// unless ID is an observer.
	Voters []uint64
	// Observers are the ids of non-voting members.
	Observers []uint64
	// ElectionTicks is how often a LOOKING peer re-sends its vote, so that a
	// lost notification does not stall the election.
	ElectionTicks int
	// FinalizeTicks is how long a LOOKING peer waits, once a quorum holds its
	// vote, for a better vote to arrive (ZooKeeper's finalizeWait, 200 ms).
	FinalizeTicks int
	// InitLimit bounds each step of discovery and synchronization: a leader
	// that has not moved to the next phase, or a learner that has not heard
	// the next phase message, within InitLimit ticks goes back to LOOKING.
	InitLimit int
	// SyncLimit bounds silence: a learner that hears nothing from its leader,
	// or a leader that hears nothing from a quorum, for SyncLimit ticks
	// goes back to LOOKING (the leader forgets silent learners).
	SyncLimit int
	// PingTicks is the leader's heartbeat interval.
	PingTicks int
	// MaxCounter caps the zxid counter; zero means 2^32-1. Tests lower it to
	// exercise the step-down that forces a new epoch.
	MaxCounter uint32
	// Logger receives protocol events; nil discards them.
	Logger *slog.Logger
	// Bugs enables seeded protocol bugs (see Bug); nil is the correct
	// protocol. Only zabcheck's detection runs set it.
	Bugs Bugs
}

// DefaultConfig returns a Config with ZooKeeper-like limits for peer id.
func DefaultConfig(id uint64, voters, observers []uint64) Config {
	return Config{
		ID:            id,
		Voters:        slices.Clone(voters),
		Observers:     slices.Clone(observers),
		ElectionTicks: 2,
		FinalizeTicks: 1,
		InitLimit:     10,
		SyncLimit:     5,
		PingTicks:     1,
	}
}

// Validate reports the first bad field.
func (c *Config) Validate() error {
	if c.ID == 0 {
		return errors.New("config: ID must be non-zero")
	}
	if len(c.Voters) == 0 {
		return errors.New("config: Voters must not be empty")
	}
	seen := map[uint64]bool{}
	for _, v := range c.Voters {
		if v == 0 {
			return errors.New("config: Voters contains id 0")
		}
		if seen[v] {
			return fmt.Errorf("config: Voters lists id %d twice", v)
		}
		seen[v] = true
	}
	for _, o := range c.Observers {
		if o == 0 {
			return errors.New("config: Observers contains id 0")
		}
		if seen[o] {
			return fmt.Errorf("config: Observers lists id %d twice or also as a voter", o)
		}
		seen[o] = true
	}
	if !seen[c.ID] {
		return fmt.Errorf("config: ID %d is neither in Voters nor in Observers", c.ID)
	}
	if err := c.Bugs.validate(); err != nil {
		return err
	}
	switch {
	case c.ElectionTicks < 1:
		return fmt.Errorf("config: ElectionTicks must be >= 1, got %d", c.ElectionTicks)
	case c.FinalizeTicks < 0:
		return fmt.Errorf("config: FinalizeTicks must be >= 0, got %d", c.FinalizeTicks)
	case c.InitLimit < 1:
		return fmt.Errorf("config: InitLimit must be >= 1, got %d", c.InitLimit)
	case c.SyncLimit < 1:
		return fmt.Errorf("config: SyncLimit must be >= 1, got %d", c.SyncLimit)
	case c.PingTicks < 1:
		return fmt.Errorf("config: PingTicks must be >= 1, got %d", c.PingTicks)
	case c.PingTicks >= c.SyncLimit:
		return fmt.Errorf("config: PingTicks (%d) must be below SyncLimit (%d)", c.PingTicks, c.SyncLimit)
	}
	return nil
}
