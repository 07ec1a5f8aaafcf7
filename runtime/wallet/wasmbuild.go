package wallet

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/plinko-pir/plinko/runtime/dataset"
)

// ModulePath is the Go module the wasm main lives in.
const ModulePath = "github.com/plinko-pir/plinko"

// WasmPackage is the import path of the WebAssembly main, relative to the
// module root.
const WasmPackage = "./runtime/wallet/wasm"

// wasmFile and wasmExecFile are the names inside a wasm directory: the wasm
// and the JavaScript support file of the Go toolchain that built it.
const (
	wasmFile     = "plinko.wasm"
	wasmExecFile = "wasm_exec.js"
)

// ErrNoSource means the wasm cannot be built on demand because no source
// checkout of the module was found; pass a prebuilt wasm instead.
var ErrNoSource = errors.New("no source checkout of " + ModulePath + " found (run from the repository, or pass a prebuilt wasm with --wasm)")

// EnsureWasm returns the path of plinko.wasm built from the source checkout,
// building it into cacheDir/<key>/ when that key has not been built yet. The
// key hashes the Go version, go.mod, go.sum and every module-local source file
// the wasm depends on, so an edit to any of them builds a fresh wasm and an
// unchanged tree reuses the cached one. wasm_exec.js of the same toolchain is
// copied beside it. An empty cacheDir means the user cache dir.
func EnsureWasm(ctx context.Context, cacheDir string) (string, error) {
	return EnsureWasmNotify(ctx, cacheDir, nil)
}

// EnsureWasmNotify is EnsureWasm that calls building, if not nil, just
// before it starts a build (not on a cache hit), so a caller can say that
// the next minute goes to compiling.
func EnsureWasmNotify(ctx context.Context, cacheDir string, building func()) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	if cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		cacheDir = filepath.Join(base, "plinko", "wasm")
	}
	key, err := wasmSourceKey(ctx, root)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cacheDir, key)
	out := filepath.Join(dir, wasmFile)
	if cachedWasmOK(dir) {
		return out, nil
	}
	if building != nil {
		building()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating wasm cache dir: %w", err)
	}
	goroot, err := goEnv(ctx, root, "GOROOT")
	if err != nil {
		return "", err
	}
	execJS, err := os.ReadFile(filepath.Join(goroot, "lib", "wasm", wasmExecFile))
	if err != nil {
		return "", fmt.Errorf("reading wasm_exec.js of the Go toolchain: %w", err)
	}
	if err := dataset.WriteFile(filepath.Join(dir, wasmExecFile), execJS); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".plinko-*.wasm")
	if err != nil {
		return "", fmt.Errorf("creating temp wasm: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", tmpName, WasmPackage)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the wallet wasm (GOOS=js GOARCH=wasm go build %s): %w\n%s", WasmPackage, err, stderr.String())
	}
	if err := syncFile(tmpName); err != nil {
		return "", err
	}
	built, err := os.ReadFile(tmpName)
	if err != nil {
		return "", fmt.Errorf("reading built wasm: %w", err)
	}
	if err := os.Rename(tmpName, out); err != nil {
		return "", fmt.Errorf("installing built wasm: %w", err)
	}
	_ = dataset.SyncDir(dir) // best effort: the checksum file, written last, decides
	// The checksum goes last: a cache entry without a matching one is
	// rebuilt, so a torn or damaged file is never served.
	if err := dataset.WriteFile(filepath.Join(dir, wasmSumFile), []byte(sha256Hex(built)+"\n")); err != nil {
		return "", err
	}
	return out, nil
}

// wasmSumFile holds the sha256 of the cached plinko.wasm.
const wasmSumFile = "plinko.wasm.sha256"

// cachedWasmOK reports whether dir holds a complete build: wasm_exec.js and
// a plinko.wasm whose sha256 matches the one recorded after it was built.
func cachedWasmOK(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, wasmExecFile)); err != nil {
		return false
	}
	sum, err := os.ReadFile(filepath.Join(dir, wasmSumFile))
	if err != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join(dir, wasmFile))
	return err == nil && strings.TrimSpace(string(sum)) == sha256Hex(b)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// moduleRoot finds the source checkout: the module of the working directory,
// or else the checkout this package was compiled from.
func moduleRoot(ctx context.Context) (string, error) {
	if _, err := exec.LookPath("go"); err != nil {
		return "", fmt.Errorf("%w: the go command is not on PATH", ErrNoSource)
	}
	var candidates []string
	if gomod, err := goEnv(ctx, "", "GOMOD"); err == nil && gomod != "" && gomod != os.DevNull {
		candidates = append(candidates, filepath.Dir(gomod))
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", ".."))
	}
	for _, dir := range candidates {
		if isOurModule(filepath.Join(dir, "go.mod")) {
			if _, err := os.Stat(filepath.Join(dir, WasmPackage)); err == nil {
				return filepath.Clean(dir), nil
			}
		}
	}
	return "", ErrNoSource
}

func isOurModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "module ") {
			return strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "module ")), `"`) == ModulePath
		}
	}
	return false
}

func goEnv(ctx context.Context, dir, name string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "env", name)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// wasmSourceKey hashes everything the wasm build depends on that can change in
// a checkout: the toolchain, the module files (which pin every dependency) and
// the module-local sources of every package in the wasm's import graph.
func wasmSourceKey(ctx context.Context, root string) (string, error) {
	h := sha256.New()
	for _, name := range []string{"GOVERSION", "GOFLAGS"} {
		v, err := goEnv(ctx, root, name)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s=%s\n", name, v)
	}
	cmd := exec.CommandContext(ctx, "go", "list", "-deps",
		"-f", `{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{"\n"}}{{end}}{{end}}`,
		WasmPackage)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("listing the wasm's sources: %w\n%s", err, stderr.String())
	}
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		for _, f := range fields[1:] {
			files = append(files, filepath.Join(fields[0], f))
		}
	}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		fmt.Fprintf(h, "file %s\n", filepath.ToSlash(rel))
		fh, err := os.Open(f)
		if err != nil {
			return "", fmt.Errorf("hashing wasm source: %w", err)
		}
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return "", fmt.Errorf("hashing wasm source %s: %w", f, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	return nil
}
