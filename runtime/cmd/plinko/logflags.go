package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	gethlog "github.com/ethereum/go-ethereum/log"
	"github.com/spf13/cobra"
)

// Logging is the same for every subcommand: --log-format text (key=value
// lines for people) or json (one object per line for a log store: fields
// time, level, msg, component and, where they apply, epoch and block;
// durations in seconds), and --log-level. Per-block detail is at debug.
var (
	logFormat = "text"
	logLevel  string
	cmdLog    *slog.Logger
)

// quietAnnotation marks a subcommand whose default level is warn because it
// prints its own summary for people (plinko local).
const quietAnnotation = "plinko/quiet-logs"

func init() {
	pf := root.PersistentFlags()
	pf.StringVar(&logFormat, "log-format", logFormat, "log format on stderr: text or json")
	pf.StringVar(&logLevel, "log-level", "", "debug, info, warn or error (default info; warn for local, which prints its own summary)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		l, geth, err := newLoggers(cmd, os.Stderr)
		if err != nil {
			return err
		}
		cmdLog = l
		// go-ethereum's own logs (the dev chain's node, the RPC clients):
		// its errors (and warnings with --log-level), never its info.
		gethlog.SetDefault(gethlog.NewLogger(geth))
		return nil
	}
}

func newLogger(cmd *cobra.Command, w io.Writer) (*slog.Logger, error) {
	l, _, err := newLoggers(cmd, w)
	return l, err
}

// newLoggers returns the subcommand's logger and the handler for
// go-ethereum's logs (the same format, errors only unless a level is set).
func newLoggers(cmd *cobra.Command, w io.Writer) (*slog.Logger, slog.Handler, error) {
	level := slog.LevelInfo
	if cmd.Annotations[quietAnnotation] != "" {
		level = slog.LevelWarn
	}
	if logLevel != "" {
		if err := level.UnmarshalText([]byte(logLevel)); err != nil {
			return nil, nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
		}
	}
	handler := func(level slog.Level) (slog.Handler, error) {
		opts := &slog.HandlerOptions{Level: level}
		switch strings.ToLower(logFormat) {
		case "text":
			return slog.NewTextHandler(w, opts), nil
		case "json":
			// Durations as seconds (a float), not nanoseconds: what log
			// stores and people compare.
			opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
				if a.Value.Kind() == slog.KindDuration {
					a.Value = slog.Float64Value(a.Value.Duration().Seconds())
				}
				return a
			}
			return slog.NewJSONHandler(w, opts), nil
		}
		return nil, fmt.Errorf("--log-format %q: want text or json", logFormat)
	}
	h, err := handler(level)
	if err != nil {
		return nil, nil, err
	}
	// go-ethereum warns about things that are routine here (a freshly
	// generated dev chain's head, say): its errors by default, its
	// warnings too when a level is asked for.
	gethLevel := slog.LevelError
	if logLevel != "" {
		gethLevel = max(level, slog.LevelWarn)
	}
	geth, _ := handler(gethLevel)
	l := slog.New(h)
	// plinko local names each of its components itself.
	if cmd.Annotations[quietAnnotation] == "" {
		l = l.With("component", cmd.Name())
	}
	return l, geth.WithAttrs([]slog.Attr{slog.String("component", "go-ethereum")}), nil
}

// logger is the logger of the running subcommand.
func logger() *slog.Logger { return cmdLog }
