package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// passphraseEnv names the environment variable that carries the state's
// passphrase (CI, services: nobody at a terminal).
const passphraseEnv = "PLINKO_PASSPHRASE"

// passphraseFlags are the ways to give the state's passphrase.
type passphraseFlags struct {
	fd  int
	ask bool
}

func (p *passphraseFlags) register(f *pflag.FlagSet) {
	f.IntVar(&p.fd, "passphrase-fd", -1, "read the state's passphrase from this file descriptor (its first line)")
	f.BoolVar(&p.ask, "passphrase", false, "seal the state with a passphrase asked for on the terminal (or set "+passphraseEnv+")")
}

// resolve returns the passphrase given (nil: none) and a prompt for a state
// that turns out to need one (nil when stdin is no terminal). Order:
// --passphrase-fd, then PLINKO_PASSPHRASE, then --passphrase (asked now).
func (p *passphraseFlags) resolve() ([]byte, func() ([]byte, error), error) {
	var prompt func() ([]byte, error)
	if term.IsTerminal(int(os.Stdin.Fd())) {
		prompt = func() ([]byte, error) { return askPassphrase("Passphrase for the client state: ") }
	}
	switch {
	case p.fd >= 0:
		f := os.NewFile(uintptr(p.fd), "passphrase-fd")
		if f == nil {
			return nil, nil, fmt.Errorf("--passphrase-fd %d is not an open file descriptor", p.fd)
		}
		defer f.Close()
		pass, err := firstLine(f)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the passphrase from fd %d: %w", p.fd, err)
		}
		return pass, prompt, nil
	case os.Getenv(passphraseEnv) != "":
		return []byte(os.Getenv(passphraseEnv)), prompt, nil
	case p.ask:
		if prompt == nil {
			return nil, nil, fmt.Errorf("--passphrase needs a terminal; use --passphrase-fd or %s", passphraseEnv)
		}
		pass, err := prompt()
		return pass, prompt, err
	}
	return nil, prompt, nil
}

// firstLine reads up to the first newline (a passphrase file or pipe may
// end with one) and refuses an empty passphrase.
func firstLine(r io.Reader) ([]byte, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	line = bytes.TrimRight(line, "\r\n")
	if len(line) == 0 {
		return nil, errors.New("the passphrase is empty")
	}
	return line, nil
}

// askPassphrase reads a passphrase from the terminal without echo.
func askPassphrase(prompt string) ([]byte, error) {
	fmt.Fprint(os.Stderr, prompt)
	pass, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, err
	}
	if len(pass) == 0 {
		return nil, errors.New("the passphrase is empty")
	}
	return pass, nil
}
