package sealed

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
)

// Options say which keys a command-line client may use for the state in Dir.
type Options struct {
	// Dir is the state directory: it holds the key file and names the
	// keyring entry.
	Dir string
	// Passphrase, when given (an environment variable, a file descriptor,
	// a prompt the user asked for), seals new state; the keyring and the key
	// file are not used.
	Passphrase []byte
	// Prompt asks for the passphrase when a state sealed with one is found
	// and none was given; nil where nobody can answer (no terminal).
	Prompt func() ([]byte, error)
	// Keyring is the OS keyring when nil.
	Keyring Keyring
	// Argon2 are the parameters for new passphrase states (zero: DefaultArgon2).
	Argon2 Argon2Params
	// Logger gets the one notice when the keyring is unavailable.
	Logger *slog.Logger
}

// NewKeys chooses keys in this order. A saved state is opened with the kind
// of key its header names. A new state is sealed with
//
//  1. the passphrase, if one was given;
//  2. else a random key in the OS keyring, if the keyring works;
//  3. else a random key in a key file in Dir (said once, at Info).
//
// A passphrase given for a state that was sealed otherwise is refused, not
// ignored: the user asked for protection the state does not have.
func NewKeys(opt Options) Keys {
	if opt.Keyring == nil {
		opt.Keyring = OSKeyring{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if abs, err := filepath.Abs(opt.Dir); err == nil {
		opt.Dir = abs
	}
	return &chooser{opt: opt}
}

type chooser struct{ opt Options }

func (c *chooser) Key(_ context.Context, src Source) (Key, error) {
	o := c.opt
	if o.Passphrase != nil && src != 0 && src != SourcePassphrase {
		return nil, fmt.Errorf("a passphrase was given, but the state in %s is sealed with %s (remove the directory to start again with the passphrase; the hints are rebuilt from the snapshot): %w",
			o.Dir, src, ErrKeyUnavailable)
	}
	switch src {
	case 0:
		if o.Passphrase != nil {
			return NewPassphrase(o.Passphrase, o.Argon2)
		}
		k, err := keyringKey(o.Keyring, o.Dir, true)
		if err == nil {
			return k, nil
		}
		o.Logger.Info("OS keyring unavailable: the state key is kept in a file next to the state, which protects only a copy of the state made without it; set PLINKO_PASSPHRASE for more",
			"key_file", filepath.Join(o.Dir, KeyFileName), "reason", err.Error())
		return keyFileKey(o.Dir, true)
	case SourcePassphrase:
		pass := o.Passphrase
		if pass == nil && o.Prompt != nil {
			p, err := o.Prompt()
			if err != nil {
				return nil, fmt.Errorf("reading the passphrase: %w", err)
			}
			pass = p
		}
		if pass == nil {
			return nil, fmt.Errorf("state in %s: %w", o.Dir, ErrNeedPassphrase)
		}
		return NewPassphrase(pass, o.Argon2)
	case SourceKeyring:
		k, err := keyringKey(o.Keyring, o.Dir, false)
		if err != nil {
			return nil, fmt.Errorf("the state in %s is sealed with a key in the OS keyring: %w: %w", o.Dir, err, ErrKeyUnavailable)
		}
		return k, nil
	case SourceKeyFile:
		k, err := keyFileKey(o.Dir, false)
		if err != nil {
			return nil, fmt.Errorf("the state in %s is sealed with its key file: %w: %w", o.Dir, err, ErrKeyUnavailable)
		}
		return k, nil
	}
	return nil, fmt.Errorf("the state in %s is sealed with %s, which this program cannot use: %w", o.Dir, src, ErrKeyUnavailable)
}
