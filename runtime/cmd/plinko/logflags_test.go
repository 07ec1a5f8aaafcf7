package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestLogFlags(t *testing.T) {
	defer func(f, l string) { logFormat, logLevel = f, l }(logFormat, logLevel)
	server := &cobra.Command{Use: "updater"}
	quiet := &cobra.Command{Use: "local", Annotations: map[string]string{quietAnnotation: "yes"}}

	// JSON for a log store: one object per line, the component named,
	// durations in seconds; per-block detail only at debug.
	var out bytes.Buffer
	logFormat, logLevel = "json", ""
	l, err := newLogger(server, &out)
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("updater: published", "epoch", 7)
	l.Info("snapshot", "epoch", 7, "block", 9, "took", 1500*time.Millisecond)
	var rec map[string]any
	if err := json.Unmarshal(out.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON object per line: %q: %v", out.String(), err)
	}
	if rec["component"] != "updater" || rec["epoch"] != 7.0 || rec["block"] != 9.0 || rec["took"] != 1.5 || rec["msg"] != "snapshot" {
		t.Fatalf("record %v", rec)
	}

	// plinko local prints its own summary: its logs default to warn, and
	// its components name themselves.
	out.Reset()
	logFormat = "text"
	if l, err = newLogger(quiet, &out); err != nil {
		t.Fatal(err)
	}
	l.Info("serving")
	l.Warn("following the chain failed")
	if got := out.String(); strings.Contains(got, "serving") || !strings.Contains(got, "following the chain failed") || strings.Contains(got, "component=") {
		t.Fatalf("quiet default: %q", got)
	}
	out.Reset()
	logLevel = "debug"
	if l, err = newLogger(quiet, &out); err != nil {
		t.Fatal(err)
	}
	l.Debug("delta applied")
	if !strings.Contains(out.String(), "delta applied") {
		t.Fatalf("--log-level debug: %q", out.String())
	}

	// go-ethereum's logs: errors by default, warnings with a level set.
	logLevel = ""
	_, geth, err := newLoggers(server, &out)
	if err != nil || geth.Enabled(context.Background(), slog.LevelWarn) || !geth.Enabled(context.Background(), slog.LevelError) {
		t.Fatalf("go-ethereum's handler by default: %v", err)
	}
	logLevel = "info"
	if _, geth, err = newLoggers(server, &out); err != nil || !geth.Enabled(context.Background(), slog.LevelWarn) || geth.Enabled(context.Background(), slog.LevelInfo) {
		t.Fatalf("go-ethereum's handler at --log-level info: %v", err)
	}

	for _, bad := range [][2]string{{"xml", ""}, {"text", "loud"}} {
		logFormat, logLevel = bad[0], bad[1]
		if _, err := newLogger(server, &out); err == nil || !strings.Contains(err.Error(), "want") {
			t.Errorf("format %q level %q: %v", bad[0], bad[1], err)
		}
	}
}

func TestSelfCommand(t *testing.T) {
	defer func(a string) { os.Args[0] = a }(os.Args[0])
	for arg, want := range map[string]string{
		"/root/.cache/go-build/ec/ecf529c36af67dce1327a0657c34d006c40db8335735a2d842fe04089f6cbe3c-d/plinko": "go run ./runtime/cmd/plinko",
		"/tmp/go-build123/b001/exe/plinko": "go run ./runtime/cmd/plinko",
		"./plinko":                         "./plinko",
		"plinko":                           "plinko",
	} {
		os.Args[0] = arg
		if got := selfCommand(); got != want {
			t.Errorf("started as %s: example command %q, want %q", arg, got, want)
		}
	}
}
