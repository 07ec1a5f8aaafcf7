//go:build !linux

package pirserver

// allocDB returns n zeroed bytes for the database (huge pages on Linux only).
func allocDB(n int) (b []byte, free func()) { return make([]byte, n), func() {} }
