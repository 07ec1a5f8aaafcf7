package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

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
		l, err := newLogger(cmd, os.Stderr)
		cmdLog = l
		return err
	}
}

func newLogger(cmd *cobra.Command, w io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	if cmd.Annotations[quietAnnotation] != "" {
		level = slog.LevelWarn
	}
	if logLevel != "" {
		if err := level.UnmarshalText([]byte(logLevel)); err != nil {
			return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(logFormat) {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		// Durations as seconds (a float), not nanoseconds: what log
		// stores and people compare.
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.Float64Value(a.Value.Duration().Seconds())
			}
			return a
		}
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", logFormat)
	}
	l := slog.New(h)
	// plinko local names each of its components itself.
	if cmd.Annotations[quietAnnotation] == "" {
		l = l.With("component", cmd.Name())
	}
	return l, nil
}

// logger is the logger of the running subcommand.
func logger() *slog.Logger { return cmdLog }
