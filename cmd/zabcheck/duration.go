package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// seconds is a duration flag's value that takes bare seconds ("60",
// "0.5"), as Jepsen's --time-limit does, besides Go durations ("60s",
// "1m"). cli.DurationFlag refuses "15", the first thing a Jepsen user
// types. String is a Go duration, so c.Duration reads the flag unchanged.
type seconds struct {
	name string // the flag, so a bad value's message names it
	d    time.Duration
}

func (s *seconds) Set(v string) error {
	d, err := parseSeconds(v)
	if err != nil {
		return fmt.Errorf("--%s: %w", s.name, err)
	}
	s.d = d
	return nil
}

func (s *seconds) String() string { return s.d.String() }

// parseSeconds reads bare seconds or a Go duration; negative durations are
// refused (every duration flag is a length, a budget or a pause).
func parseSeconds(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	var d time.Duration
	if isDecimal(v) {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.Abs(f)*float64(time.Second) > math.MaxInt64 {
			return 0, fmt.Errorf("%q seconds is out of range", v)
		}
		d = time.Duration(math.Round(f * float64(time.Second)))
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, fmt.Errorf("want seconds (15) or a duration (15s, 1m30s), got %q", v)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", v)
	}
	return d, nil
}

// isDecimal says whether v is an unsigned or negative decimal number with
// no unit ("15", "0.5", "-3").
func isDecimal(v string) bool {
	v = strings.TrimPrefix(v, "-")
	digits, dots := 0, 0
	for _, r := range v {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// durationFlag is a duration flag that takes bare seconds too. Read it
// with c.Duration(name).
func durationFlag(name string, def time.Duration, usage string, envVars []string) cli.Flag {
	return &cli.GenericFlag{Name: name, Value: &seconds{name: name, d: def}, Usage: usage + " (seconds, or a duration: 90s, 1m30s)", EnvVars: envVars}
}

// derivedDefault says in the help what a duration flag left unset means,
// when its zero value stands for a default computed from other flags.
func derivedDefault(f cli.Flag, text string) cli.Flag {
	f.(*cli.GenericFlag).DefaultText = text
	return f
}
