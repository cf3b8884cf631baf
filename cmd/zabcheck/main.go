// Command zabcheck is a Jepsen-style linearizability harness for Zab. This
// file only wires flags to the runner, checker, report and docker packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// Exit codes follow Jepsen's.
const (
	exitValid   = 0
	exitInvalid = 1
	exitUnknown = 2
	exitBadArgs = 254
	exitHarness = 255
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func badArgs(format string, args ...any) error {
	return &exitError{code: exitBadArgs, err: fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process globals, so tests can drive it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitValid
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.code != exitValid && ee.code != exitInvalid && ee.code != exitUnknown {
			fmt.Fprintf(stderr, "zabcheck: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "zabcheck: %v\n", err)
	return exitHarness
}

func newApp(stdout, stderr io.Writer) *cli.App {
	usageErr := func(_ *cli.Context, err error, _ bool) error {
		return badArgs("%v", err)
	}
	app := &cli.App{
		Name:  "zabcheck",
		Usage: "Jepsen-style linearizability tests for Zab: zabnode and Apache ZooKeeper",
		Description: "Exit codes: 0 valid, 1 invalid, 2 unknown (a checker timed out), " +
			"254 bad arguments, 255 the harness itself failed.",
		Version:        version(),
		Writer:         stdout,
		ErrWriter:      stderr,
		OnUsageError:   usageErr,
		ExitErrHandler: func(*cli.Context, error) {}, // exit codes are decided in run
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "verbose", Usage: "debug logging", EnvVars: []string{"ZABCHECK_VERBOSE"}},
		},
		// Without a command, urfave/cli shows help; a word that is no
		// command is bad input, not a harness failure.
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowAppHelp(c)
			}
			var names []string
			for _, cmd := range c.App.Commands {
				if !cmd.Hidden {
					names = append(names, cmd.Name)
				}
			}
			return badArgs("unknown command %q (commands: %s)", c.Args().First(), strings.Join(names, ", "))
		},
		Commands: []*cli.Command{
			testCommand(),
			checkCommand(),
			serveCommand(),
			imagesCommand(),
			cleanCommand(),
			benchCommand(),
			bugsCommand(),
			detectCommand(),
			huntCommand(),
			coverageGateCommand(),
			listCommand(),
			synthCommand(),
		},
	}
	for _, c := range app.Commands {
		c.OnUsageError = usageErr
	}
	return app
}

func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	rev, dirty := "", ""
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return rev + dirty
}

// logger writes structured lines to stderr. On a terminal the live status
// line owns the screen, so only warnings are logged there unless --verbose.
func logger(c *cli.Context) *slog.Logger {
	level := slog.LevelInfo
	if isTTY(c.App.ErrWriter) {
		level = slog.LevelWarn
	}
	if c.Bool("verbose") {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
