package sealed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/plinko-pir/plinko/runtime/dataset"
)

// KeyFileName is the key file's name in the state directory. It sits next to
// the state, so it protects only against someone who copies the state
// without it (a backup, a synced folder that skips it, a careless upload);
// anyone who can read the directory can read both.
const KeyFileName = "client.key"

// keyFileMagic starts a key file (then the 32-byte key).
const keyFileMagic = "PLKOKEY1"

// keyFileKey reads dir's key file; with create, a missing one is made
// (0600, written atomically).
func keyFileKey(dir string, create bool) (Key, error) {
	path := filepath.Join(dir, KeyFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		k := make([]byte, dataKeySize)
		if err := readRand(k); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating state directory: %w", err)
		}
		if err := dataset.WriteFilePerm(path, append([]byte(keyFileMagic), k...), 0o600); err != nil {
			return nil, fmt.Errorf("writing the key file: %w", err)
		}
		return NewRawKey(SourceKeyFile, k)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the key file: %w", err)
	}
	if len(b) != len(keyFileMagic)+dataKeySize || string(b[:len(keyFileMagic)]) != keyFileMagic {
		return nil, fmt.Errorf("%s is not a plinko key file", path)
	}
	return NewRawKey(SourceKeyFile, b[len(keyFileMagic):])
}
