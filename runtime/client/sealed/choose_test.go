package sealed

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// memKeyring is a working keyring.
type memKeyring map[string]string

func (m memKeyring) Get(s, u string) (string, error) {
	v, ok := m[s+"\x00"+u]
	if !ok {
		return "", ErrKeyringNotFound
	}
	return v, nil
}
func (m memKeyring) Set(s, u, v string) error { m[s+"\x00"+u] = v; return nil }

// deadKeyring is a keyring with no D-Bus behind it.
type deadKeyring struct{}

func (deadKeyring) Get(string, string) (string, error) { return "", errors.New("no D-Bus session") }
func (deadKeyring) Set(string, string, string) error   { return errors.New("no D-Bus session") }

// saveWith saves a state through keys chosen by opt and reopens it with
// opt2; it returns the log and Load's error.
func saveWith(t *testing.T, opt, opt2 Options) (string, error) {
	t.Helper()
	ctx := context.Background()
	var log bytes.Buffer
	opt.Logger = slog.New(slog.NewTextHandler(&log, nil))
	raw := &rawStore{}
	s := New(raw, NewKeys(opt))
	if err := s.Save(ctx, []byte("the state")); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, []byte("the state")); err != nil { // the key is chosen once
		t.Fatal(err)
	}
	st, err := New(raw, NewKeys(opt2)).Load(ctx)
	if err == nil && string(st) != "the state" {
		t.Fatalf("Load = %q", st)
	}
	return log.String(), err
}

func TestKeyringUsedWhenAvailable(t *testing.T) {
	kr := memKeyring{}
	dir := t.TempDir()
	opt := Options{Dir: dir, Keyring: kr}
	log, err := saveWith(t, opt, opt)
	if err != nil || log != "" || len(kr) != 1 {
		t.Fatalf("err %v, log %q, %d keyring entries", err, log, len(kr))
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a key file was written although the keyring works")
	}
	// The keyring gone later: a clear error, not a new key.
	if _, err := saveWith(t, opt, Options{Dir: dir, Keyring: deadKeyring{}}); !errors.Is(err, ErrKeyUnavailable) {
		t.Fatalf("keyring gone: %v", err)
	}
}

// TestKeyringFallback: no keyring (no D-Bus, as here and in CI): the key goes
// to a 0600 key file next to the state, said once, and opens the state again.
func TestKeyringFallback(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Dir: dir, Keyring: deadKeyring{}}
	log, err := saveWith(t, opt, opt)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log, "OS keyring unavailable"); n != 1 {
		t.Fatalf("fallback said %d times: %q", n, log)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	// The key file removed: a clear error, not a fresh key.
	ctx := context.Background()
	raw := &rawStore{}
	if err := New(raw, NewKeys(opt)).Save(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, KeyFileName))
	if _, err := New(raw, NewKeys(opt)).Load(ctx); !errors.Is(err, ErrKeyUnavailable) {
		t.Fatalf("key file missing: %v", err)
	}
}

// TestOSKeyringFallback runs the real go-keyring where no D-Bus session is
// reachable (this machine, CI): it must fail and the fallback must work.
func TestOSKeyringFallback(t *testing.T) {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		t.Skip("a D-Bus session is here: not touching the real keyring")
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	dir := t.TempDir()
	log, err := saveWith(t, Options{Dir: dir}, Options{Dir: dir})
	if err != nil || !strings.Contains(log, "OS keyring unavailable") {
		t.Fatalf("err %v, log %q", err, log)
	}
}

func TestPassphraseOptions(t *testing.T) {
	dir := t.TempDir()
	pass := Options{Dir: dir, Passphrase: []byte("hunter2"), Argon2: fastArgon, Keyring: deadKeyring{}}
	if _, err := saveWith(t, pass, pass); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a key file was written although a passphrase was given")
	}
	none := Options{Dir: dir, Keyring: deadKeyring{}}
	if _, err := saveWith(t, pass, none); !errors.Is(err, ErrNeedPassphrase) {
		t.Fatalf("no passphrase: %v", err)
	}
	prompted := none
	prompted.Prompt = func() ([]byte, error) { return []byte("hunter2"), nil }
	if _, err := saveWith(t, pass, prompted); err != nil {
		t.Fatalf("prompted: %v", err)
	}
	wrong := pass
	wrong.Passphrase = []byte("hunter3")
	if _, err := saveWith(t, pass, wrong); !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	// A passphrase given for a state sealed otherwise is refused.
	if _, err := saveWith(t, none, pass); !errors.Is(err, ErrKeyUnavailable) {
		t.Fatalf("passphrase for a key-file state: %v", err)
	}
}
