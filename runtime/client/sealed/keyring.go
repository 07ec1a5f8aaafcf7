package sealed

import (
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	gokeyring "github.com/zalando/go-keyring"
)

// Keyring keeps secrets by service and user: the OS keyring (OSKeyring) or a
// stand-in in tests.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
}

// ErrKeyringNotFound is what a Keyring's Get returns for a missing entry.
var ErrKeyringNotFound = gokeyring.ErrNotFound

// OSKeyring is the OS keyring through go-keyring: the Secret Service over
// D-Bus on Linux (absent on servers and in containers), the Keychain on
// macOS, the Credential Manager on Windows. Calls that take longer than
// keyringTimeout (a locked keyring waiting on an unlock prompt nobody
// sees) count as unavailable.
type OSKeyring struct{}

const keyringTimeout = 5 * time.Second

func (OSKeyring) Get(service, user string) (string, error) {
	var v string
	err := withTimeout(func() (err error) { v, err = gokeyring.Get(service, user); return })
	return v, err
}

func (OSKeyring) Set(service, user, secret string) error {
	return withTimeout(func() error { return gokeyring.Set(service, user, secret) })
}

func withTimeout(f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(keyringTimeout):
		return errors.New("the OS keyring did not answer in time")
	}
}

// keyringService names this program's entries; the user is the state
// directory, so each directory has its own key.
const keyringService = "plinko client state"

// keyringKey reads the directory's key from kr; with create, a missing one
// is made and stored. Any error other than a missing entry means the keyring
// is unusable here.
func keyringKey(kr Keyring, dir string, create bool) (Key, error) {
	v, err := kr.Get(keyringService, dir)
	if errors.Is(err, ErrKeyringNotFound) && create {
		k := make([]byte, dataKeySize)
		if err := readRand(k); err != nil {
			return nil, err
		}
		if err := kr.Set(keyringService, dir, base64.StdEncoding.EncodeToString(k)); err != nil {
			return nil, fmt.Errorf("storing the state key in the OS keyring: %w", err)
		}
		return NewRawKey(SourceKeyring, k)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the state key from the OS keyring: %w", err)
	}
	k, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(k) != dataKeySize {
		return nil, errors.New("the OS keyring's entry for this state is not a state key")
	}
	return NewRawKey(SourceKeyring, k)
}
