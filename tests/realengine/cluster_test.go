package realengine

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// cluster is a real kube-apiserver backed by a real etcd, both on 127.0.0.1,
// with no nodes and no controllers: enough for server-side dry runs, which run
// the API server's defaulting, validation and admission (Pod Security
// included) without scheduling anything.
type cluster struct {
	URL        string // https://127.0.0.1:port
	Token      string // bearer token of a system:masters user
	CAPEM      []byte // CA that signed the serving certificate
	Kubeconfig string // kubeconfig contents for that user
	client     *http.Client
}

// startCluster starts etcd and kube-apiserver in temp dirs on free ports and
// waits for /readyz. Both are stopped when the test ends.
func startCluster(t *testing.T, ctx context.Context, etcdBin, apiserverBin string) *cluster {
	t.Helper()
	dir := t.TempDir()

	etcdURL := startEtcd(t, ctx, etcdBin, filepath.Join(dir, "etcd"))

	ca, caKey := newCA(t)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	certPEM, keyPEM := newServingCert(t, ca, caKey)
	saPub, saKey := newKeyPair(t)
	token := randomToken(t)
	files := map[string][]byte{
		"ca.crt":      caPEM,
		"serving.crt": certPEM,
		"serving.key": keyPEM,
		"sa.pub":      saPub,
		"sa.key":      saKey,
		"tokens.csv":  []byte(token + ",plinko-admin,plinko-admin,system:masters\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatalf("writing %s: %v", name, err)
		}
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c := &cluster{
		Token: token,
		CAPEM: caPEM,
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		},
	}

	// A free port can be taken between probing and binding: retry on a new one.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		c.URL = "https://127.0.0.1:" + strconv.Itoa(port)
		logPath := filepath.Join(dir, fmt.Sprintf("kube-apiserver.%d.log", attempt))
		args := []string{
			"--etcd-servers=" + etcdURL,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(port),
			"--cert-dir=" + filepath.Join(dir, "certs"),
			"--tls-cert-file=" + filepath.Join(dir, "serving.crt"),
			"--tls-private-key-file=" + filepath.Join(dir, "serving.key"),
			"--token-auth-file=" + filepath.Join(dir, "tokens.csv"),
			"--authorization-mode=AlwaysAllow",
			"--service-account-key-file=" + filepath.Join(dir, "sa.pub"),
			"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-cluster-ip-range=10.96.0.0/16",
			// Fewer moving parts and a faster start; neither matters for dry runs.
			"--enable-priority-and-fairness=false",
			"--endpoint-reconciler-type=none",
		}
		cmd, exited := startProcess(t, apiserverBin, args, logPath)
		lastErr = c.waitReady(ctx, exited, 90*time.Second)
		if lastErr == nil {
			c.Kubeconfig = kubeconfig(c.URL, caPEM, token)
			return c
		}
		stopProcess(cmd, exited)
		t.Logf("kube-apiserver attempt %d on port %d: %v\n%s", attempt+1, port, lastErr, tail(logPath, 3000))
	}
	t.Fatalf("kube-apiserver did not become ready: %v", lastErr)
	return nil
}

// startEtcd starts a single-member etcd and returns its client URL once it
// reports healthy. Data is thrown away with the test, so fsync is skipped.
func startEtcd(t *testing.T, ctx context.Context, bin, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatalf("creating etcd dir: %v", err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		client := "http://127.0.0.1:" + strconv.Itoa(freePort(t))
		peer := "http://127.0.0.1:" + strconv.Itoa(freePort(t))
		dataDir := filepath.Join(dir, strconv.Itoa(attempt))
		logPath := dataDir + ".log"
		args := []string{
			"--name=plinko-test",
			"--data-dir=" + dataDir,
			"--listen-client-urls=" + client,
			"--advertise-client-urls=" + client,
			"--listen-peer-urls=" + peer,
			"--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=plinko-test=" + peer,
			"--unsafe-no-fsync",
			"--log-level=warn",
		}
		cmd, exited := startProcess(t, bin, args, logPath)
		lastErr = waitHTTP(ctx, exited, 30*time.Second, func() error {
			resp, err := http.Get(client + "/health")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("etcd /health: %s", resp.Status)
			}
			return nil
		})
		if lastErr == nil {
			return client
		}
		stopProcess(cmd, exited)
		t.Logf("etcd attempt %d: %v\n%s", attempt+1, lastErr, tail(logPath, 3000))
	}
	t.Fatalf("etcd did not become healthy: %v", lastErr)
	return ""
}

// startProcess runs bin with its output in logPath and stops it (SIGTERM,
// then SIGKILL) when the test ends. exited is closed when the process ends.
func startProcess(t *testing.T, bin string, args []string, logPath string) (*exec.Cmd, chan struct{}) {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("creating %s: %v", logPath, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Own process group, and killed if the test binary dies first (a
	// timeout panic runs no cleanup).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	exited := make(chan struct{})
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the OS thread that started the child ends,
		// not the process: pin this goroutine, which lives as long as the
		// child, to its thread.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	if err := <-started; err != nil {
		logFile.Close()
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() { stopProcess(cmd, exited) })
	return cmd, exited
}

func stopProcess(cmd *exec.Cmd, exited chan struct{}) {
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// waitHTTP polls check until it succeeds, the process exits, or the timeout.
func waitHTTP(ctx context.Context, exited chan struct{}, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = check(); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		}
		select {
		case <-exited:
			return fmt.Errorf("process exited before it was ready (last check: %v)", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *cluster) waitReady(ctx context.Context, exited chan struct{}, timeout time.Duration) error {
	return waitHTTP(ctx, exited, timeout, func() error {
		body, status, err := c.do(ctx, http.MethodGet, "/readyz", "", nil)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("/readyz: %d %s", status, body)
		}
		return nil
	})
}

// do sends one authenticated request to the API server.
func (c *cluster) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, resp.StatusCode, fmt.Errorf("reading %s %s: %w", method, path, err)
	}
	return buf.Bytes(), resp.StatusCode, nil
}

func kubeconfig(server string, caPEM []byte, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: plinko-admin
  user:
    token: %s
contexts:
- name: local
  context:
    cluster: local
    user: plinko-admin
    namespace: default
current-context: local
`, server, base64.StdEncoding.EncodeToString(caPEM), token)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "plinko-test-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func newServingCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// newKeyPair returns the service-account verification and signing keys.
func newKeyPair(t *testing.T) (pubPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// tail returns the last n bytes of a log file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
