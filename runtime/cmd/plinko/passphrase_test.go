package main

import (
	"os"
	"testing"
)

func TestPassphraseFromFD(t *testing.T) {
	t.Setenv(passphraseEnv, "from the environment")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("from the pipe\nsecond line\n")
	w.Close()
	p := passphraseFlags{fd: int(r.Fd())}
	pass, _, err := p.resolve()
	if err != nil || string(pass) != "from the pipe" {
		t.Fatalf("fd: %q, %v (the fd wins over the environment, first line only)", pass, err)
	}
}

func TestPassphraseFromEnv(t *testing.T) {
	t.Setenv(passphraseEnv, "from the environment")
	pass, _, err := (&passphraseFlags{fd: -1}).resolve()
	if err != nil || string(pass) != "from the environment" {
		t.Fatalf("env: %q, %v", pass, err)
	}
	t.Setenv(passphraseEnv, "")
	if pass, _, err := (&passphraseFlags{fd: -1}).resolve(); err != nil || pass != nil {
		t.Fatalf("none given: %q, %v", pass, err)
	}
}

func TestPassphraseRefused(t *testing.T) {
	t.Setenv(passphraseEnv, "")
	r, w, _ := os.Pipe()
	w.WriteString("\n")
	w.Close()
	if _, _, err := (&passphraseFlags{fd: int(r.Fd())}).resolve(); err == nil {
		t.Fatal("an empty passphrase was accepted")
	}
	// The tests run without a terminal on stdin: --passphrase cannot ask.
	if _, _, err := (&passphraseFlags{fd: -1, ask: true}).resolve(); err == nil {
		t.Fatal("--passphrase without a terminal was accepted")
	}
}
