package sealed

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// Errors callers branch on (returned wrapped; use errors.Is). None of them
// wraps client.ErrCorruptState: the client stops with them instead of
// discarding the state, since the right key may still open it.
var (
	// ErrWrongKey: the key does not open the saved state's data key (a wrong
	// passphrase, or a key other than the one that sealed it).
	ErrWrongKey = errors.New("the key does not open the saved state (wrong passphrase, or another key sealed it)")
	// ErrNeedPassphrase: the saved state is sealed with a passphrase and
	// none was given.
	ErrNeedPassphrase = errors.New("the saved state is sealed with a passphrase and none was given")
	// ErrKeyUnavailable: the key that sealed the state cannot be had here
	// (keyring unreachable, key file missing, another source asked for).
	ErrKeyUnavailable = errors.New("the key that sealed the saved state is not available")
	// ErrPlaintext: the store holds state written before sealing existed.
	// It wraps client.ErrCorruptState, so the client discards it and builds
	// fresh hints (under a fresh key), which the next save seals.
	ErrPlaintext = errors.New("saved client state is not encrypted (written by an older plinko); discarding it")
)

// A Key wraps the random data key each state is sealed under.
type Key interface {
	// Source says what kind of key this is (kept in the header).
	Source() Source
	// KDF returns the derivation for a new header (zero for a random key).
	KDF() (KDF, error)
	// Wrap seals the data key; aad is the header it goes in.
	Wrap(ctx context.Context, kdf KDF, dataKey, aad []byte) ([]byte, error)
	// Unwrap opens a wrapped data key; failing to is ErrWrongKey.
	Unwrap(ctx context.Context, kdf KDF, wrapped, aad []byte) ([]byte, error)
}

// rawKey is a random 32-byte key (from the keyring or a key file) that wraps
// data keys with XChaCha20-Poly1305.
type rawKey struct {
	src Source
	k   []byte
}

// NewRawKey returns a Key of source src from a random 32-byte key.
func NewRawKey(src Source, k []byte) (Key, error) {
	if len(k) != chacha20poly1305.KeySize {
		return nil, fmt.Errorf("a state key is %d bytes, not %d", chacha20poly1305.KeySize, len(k))
	}
	return &rawKey{src: src, k: append([]byte(nil), k...)}, nil
}

func (r *rawKey) Source() Source    { return r.src }
func (r *rawKey) KDF() (KDF, error) { return KDF{}, nil }

func (r *rawKey) Wrap(_ context.Context, _ KDF, dk, aad []byte) ([]byte, error) {
	return wrapWith(r.k, dk, aad)
}

func (r *rawKey) Unwrap(_ context.Context, kdf KDF, wrapped, aad []byte) ([]byte, error) {
	if kdf != (KDF{}) {
		return nil, ErrWrongKey
	}
	return unwrapWith(r.k, wrapped, aad)
}

// wrapWith seals dk under kek: nonce | ciphertext.
func wrapWith(kek, dk, aad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, nonceSize, nonceSize+len(dk)+tagSize)
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("drawing a nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, dk, aad), nil
}

func unwrapWith(kek, wrapped, aad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, err
	}
	if len(wrapped) != nonceSize+dataKeySize+tagSize {
		return nil, ErrWrongKey
	}
	dk, err := aead.Open(nil, wrapped[:nonceSize], wrapped[nonceSize:], aad)
	if err != nil {
		return nil, ErrWrongKey
	}
	return dk, nil
}
