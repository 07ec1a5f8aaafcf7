package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestDirStoreRoundTripAndCorruption(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	s := NewDirStore(dir)
	if got, err := s.Load(ctx); got != nil || err != nil {
		t.Fatalf("empty store: %v, %v", got, err)
	}
	want := []byte("hints and epoch")
	if err := s.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, append(want, '!')); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx)
	if err != nil || !bytes.Equal(got, append(want, '!')) {
		t.Fatalf("load = %q, %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 { // client.state and lock
		t.Fatalf("temp files left behind: %v", entries)
	}
	raw, _ := os.ReadFile(s.Path())
	raw[0] ^= 1
	if err := os.WriteFile(s.Path(), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); !errors.Is(err, ErrCorruptState) {
		t.Fatalf("flipped bit: %v", err)
	}
	if err := os.WriteFile(s.Path(), raw[:10], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); !errors.Is(err, ErrCorruptState) {
		t.Fatalf("truncated: %v", err)
	}
}

func TestMemStoreCopies(t *testing.T) {
	ctx := context.Background()
	var m MemStore
	if got, err := m.Load(ctx); got != nil || err != nil {
		t.Fatal("empty store not empty")
	}
	b := []byte("abc")
	_ = m.Save(ctx, b)
	b[0] = 'x'
	got, _ := m.Load(ctx)
	if string(got) != "abc" {
		t.Fatalf("store shares the caller's buffer: %q", got)
	}
}

// TestDirStoreLock: a second store on the same directory (another process,
// as flock sees it) is refused while the first holds it, and gets it after.
func TestDirStoreLock(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	first := NewDirStore(dir)
	if err := first.Save(ctx, []byte("state")); err != nil {
		t.Fatal(err)
	}
	second := &DirStore{Dir: dir, LockWait: 200 * time.Millisecond}
	if _, err := second.Load(ctx); !errors.Is(err, ErrStateInUse) {
		t.Fatalf("second user of a held directory: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := second.Load(ctx); err != nil || string(got) != "state" {
		t.Fatalf("after the first let go: %q, %v", got, err)
	}
	second.Close()
}

// TestDirStoreLockAcrossProcesses: the lock holds against another process
// (this test binary run again as a child that opens the same directory and
// waits), not only another store in this process; when the child dies, even
// by SIGKILL, the directory is free again.
func TestDirStoreLockAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("PLINKO_TEST_HOLD_STATE"); dir != "" {
		// The child: take the lock, say so, hold it until killed.
		s := NewDirStore(dir)
		if _, err := s.Load(context.Background()); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("holding")
		select {}
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	first := NewDirStore(dir)
	if err := first.Save(ctx, []byte("state")); err != nil {
		t.Fatal(err)
	}
	first.Close()
	child := exec.Command(os.Args[0], "-test.run=^TestDirStoreLockAcrossProcesses$")
	child.Env = append(os.Environ(), "PLINKO_TEST_HOLD_STATE="+dir)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "holding\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	second := &DirStore{Dir: dir, LockWait: 300 * time.Millisecond}
	if _, err := second.Load(ctx); !errors.Is(err, ErrStateInUse) {
		t.Fatalf("a directory held by another process: %v", err)
	}
	if err := child.Process.Kill(); err != nil { // SIGKILL: no chance to unlock
		t.Fatal(err)
	}
	child.Wait()
	third := &DirStore{Dir: dir, LockWait: 2 * time.Second}
	if got, err := third.Load(ctx); err != nil || string(got) != "state" {
		t.Fatalf("after the other process died: %q, %v", got, err)
	}
	third.Close()
}
