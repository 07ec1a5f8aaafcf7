package sealed

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id parameters for new passphrase-sealed states
// (an existing state keeps those in its header).
type Argon2Params struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// DefaultArgon2 is RFC 9106's second recommended option: 3 passes over
// 64 MiB with 4 lanes (about 0.1-0.3 s on a laptop core), a 16-byte salt and
// a 32-byte key.
var DefaultArgon2 = Argon2Params{Time: 3, MemoryKiB: 64 << 10, Threads: 4}

// passphraseKey derives the key-encrypting key with argon2id. Derivations
// are cached per salt, and new states reuse the salt of the last one seen,
// so a process pays for argon2id once, not on every save.
type passphraseKey struct {
	pass   []byte
	params Argon2Params

	mu    sync.Mutex
	last  KDF
	cache map[KDF][]byte
}

// NewPassphrase returns a Key derived from a passphrase (empty is refused).
// Zero params mean DefaultArgon2.
func NewPassphrase(pass []byte, params Argon2Params) (Key, error) {
	if len(pass) == 0 {
		return nil, fmt.Errorf("the passphrase is empty")
	}
	if params == (Argon2Params{}) {
		params = DefaultArgon2
	}
	return &passphraseKey{pass: append([]byte(nil), pass...), params: params, cache: map[KDF][]byte{}}, nil
}

func (p *passphraseKey) Source() Source { return SourcePassphrase }

func (p *passphraseKey) KDF() (KDF, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last != (KDF{}) {
		return p.last, nil
	}
	k := KDF{Time: p.params.Time, MemoryKiB: p.params.MemoryKiB, Threads: p.params.Threads}
	if _, err := io.ReadFull(rand.Reader, k.Salt[:]); err != nil {
		return KDF{}, fmt.Errorf("drawing a salt: %w", err)
	}
	p.last = k
	return k, nil
}

// kek derives (or recalls) the key-encrypting key for kdf.
func (p *passphraseKey) kek(kdf KDF) ([]byte, error) {
	if kdf == (KDF{}) {
		return nil, ErrWrongKey // a random-key state: not ours
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if k, ok := p.cache[kdf]; ok {
		return k, nil
	}
	k := argon2.IDKey(p.pass, kdf.Salt[:], kdf.Time, kdf.MemoryKiB, kdf.Threads, dataKeySize)
	p.cache[kdf] = k
	return k, nil
}

func (p *passphraseKey) Wrap(_ context.Context, kdf KDF, dk, aad []byte) ([]byte, error) {
	kek, err := p.kek(kdf)
	if err != nil {
		return nil, err
	}
	return wrapWith(kek, dk, aad)
}

func (p *passphraseKey) Unwrap(_ context.Context, kdf KDF, wrapped, aad []byte) ([]byte, error) {
	kek, err := p.kek(kdf)
	if err != nil {
		return nil, err
	}
	dk, err := unwrapWith(kek, wrapped, aad)
	if err != nil {
		return nil, fmt.Errorf("wrong passphrase: %w", err)
	}
	p.mu.Lock()
	p.last = kdf // new states keep this salt: no second derivation
	p.mu.Unlock()
	return dk, nil
}
