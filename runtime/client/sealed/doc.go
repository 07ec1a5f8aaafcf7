// Package sealed encrypts the client's state at rest. It wraps any
// client.Store (a DirStore, IndexedDB in the wallet) and seals every byte the
// client persists: the state (hints, keys, cache of looked-up entries, the
// manifest) and each journal record. The blobs stay opaque: sealing is a
// layer around the Store, not a change of their formats.
//
// Every state is sealed under a fresh random data key; that key is wrapped
// by the Key (the OS keyring's key, a key file, a passphrase through
// argon2id, or the browser's non-extractable WebCrypto key) and kept in the
// state's header. Journal records are sealed under their state's data key and
// bound to its id and their sequence number, so a record cannot be moved to
// another state, reordered, or passed off as a state.
//
// What it does not hide: the sizes of the state and of each record, how many
// records there are (about one per lookup), and file times. Nor can it stop
// a rollback to an older copy (an attacker who saved the old files can put
// them back), which is the same as a crash losing the newest records.
package sealed
