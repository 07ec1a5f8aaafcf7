package stackconfig

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "Pulumi.test.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadFlattensObjects(t *testing.T) {
	cfg, err := Read(write(t, "config:\n  plinko:namespace: x\n  plinko:scaling:\n    pirServer:\n      min: 3\n      max: 20\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg["plinko:namespace"] != "x" {
		t.Errorf("namespace = %q", cfg["plinko:namespace"])
	}
	if cfg["plinko:scaling"] != `{"pirServer":{"max":20,"min":3}}` {
		t.Errorf("scaling = %s", cfg["plinko:scaling"])
	}
}

func TestReadRefusesEncryptedValues(t *testing.T) {
	_, err := Read(write(t, "config:\n  vultr:apiKey:\n    secure: AAABAC\n"))
	if err == nil || !strings.Contains(err.Error(), "vultr:apiKey") {
		t.Fatalf("want an error naming vultr:apiKey, got %v", err)
	}
}

func TestExistingClusterTurnsOffVultrAndHelm(t *testing.T) {
	in := map[string]string{
		"plinko:cluster":    `{"region":"ewr"}`,
		"plinko:registry":   `{"name":"r"}`,
		"plinko:ingress":    `{"installController":true,"tls":{"enabled":true,"installCertManager":true}}`,
		"plinko:monitoring": `{"enabled":true,"install":true}`,
		"plinko:scaling":    `{"pirServer":{"min":3,"max":20}}`,
	}
	out, err := ExistingCluster(in, Existing{Image: "img@sha256:1", RenderDir: "out", Kubeconfig: "kc"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"plinko:cluster", "plinko:registry"} {
		if _, ok := out[k]; ok {
			t.Errorf("%s kept", k)
		}
	}
	if in["plinko:cluster"] == "" {
		t.Error("the input was modified")
	}
	var ex map[string]string
	if err := json.Unmarshal([]byte(out["plinko:existingCluster"]), &ex); err != nil || ex["image"] != "img@sha256:1" || ex["renderDir"] != "out" {
		t.Errorf("existingCluster = %s (%v)", out["plinko:existingCluster"], err)
	}
	if out["plinko:kubeconfig"] != "kc" || out["plinko:scaling"] != in["plinko:scaling"] {
		t.Errorf("kubeconfig or scaling wrong: %v", out)
	}
	for key, want := range map[string]string{
		"plinko:ingress":    `{"installController":false,"tls":{"enabled":false,"installCertManager":false}}`,
		"plinko:monitoring": `{"enabled":false,"install":false}`,
	} {
		if out[key] != want {
			t.Errorf("%s = %s, want %s", key, out[key], want)
		}
	}
}
