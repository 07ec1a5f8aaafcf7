package local

import (
	"bytes"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestListenFallsBack: a default port that is taken gives way to a free
// one (and says so); a port chosen on purpose is not replaced.
func TestListenFallsBack(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	var logs bytes.Buffer
	s := &System{cfg: Config{Host: "127.0.0.1"}, log: slog.New(slog.NewTextHandler(&logs, nil)), con: newConsole(nil)}

	ln, err := s.listen("cdn", port, port) // the default, taken
	if err != nil {
		t.Fatalf("a taken default port: %v", err)
	}
	got := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if got == port || !strings.Contains(logs.String(), "default port taken") {
		t.Fatalf("fell back to %d (busy %d); log %q", got, port, logs.String())
	}
	if _, err := s.listen("cdn", port, port+1); err == nil || !strings.Contains(err.Error(), "--cdn-port") {
		t.Fatalf("a taken port chosen with a flag: %v", err)
	}
}

// TestChainPortFallsBack: a taken 8545 or 8546 moves the dev chain to free
// ports; another port is kept as given.
func TestChainPortFallsBack(t *testing.T) {
	s := &System{cfg: Config{Host: "127.0.0.1"}, log: slog.New(slog.DiscardHandler), con: newConsole(nil)}
	if got := s.chainPort(9999); got != 9999 {
		t.Fatalf("a chosen port: %d", got)
	}
	for _, taken := range []int{DefaultRPCPort, DefaultRPCPort + 1} {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(taken)))
		if err != nil {
			t.Skipf("port %d busy outside the test: %v", taken, err)
		}
		got := s.chainPort(DefaultRPCPort)
		ln.Close()
		if got != 0 {
			t.Fatalf("with %d taken the chain gets port %d, want a free one (0)", taken, got)
		}
	}
}
