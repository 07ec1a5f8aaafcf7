// Package stackconfig reads a Pulumi.<stack>.yaml the way the engine hands
// its config to a program (key -> value, objects as JSON text), and derives
// from a Vultr stack's config the config that runs the same workload graph
// on a cluster that exists or renders it to YAML. The mock tests and the
// real-engine test (Automation API) use it, so both run the real stack files.
package stackconfig

import (
	"encoding/json"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// Read returns the config of a stack file: each key with its value, objects
// and arrays as JSON text. Secure values (`secure:` entries) are refused:
// they can only be decrypted by the engine.
func Read(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading stack config: %w", err)
	}
	var file struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	cfg := map[string]string{}
	for k, v := range file.Config {
		switch v := v.(type) {
		case string:
			cfg[k] = v
		case map[string]any:
			if _, ok := v["secure"]; ok && len(v) == 1 {
				return nil, fmt.Errorf("%s: %s is an encrypted value; set it through the engine", path, k)
			}
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("encoding %s: %w", k, err)
			}
			cfg[k] = string(b)
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("encoding %s: %w", k, err)
			}
			cfg[k] = string(b)
		}
	}
	return cfg, nil
}

// Existing says where the workload graph goes instead of a new VKE cluster.
type Existing struct {
	// Image is the runtime image every workload runs (required).
	Image string
	// ImagePullSecret names an existing pull secret in the namespace.
	ImagePullSecret string
	// RenderDir, when set, renders YAML there instead of using a cluster.
	RenderDir string
	// Kubeconfig (contents or path) of the cluster; empty: ambient KUBECONFIG.
	// It becomes plinko:kubeconfig, which the caller must mark secret.
	Kubeconfig string
}

// ExistingCluster returns a copy of a Vultr stack's config that deploys the
// same workload graph with e: no cluster, registry or image build, and no
// Helm releases (they need chart repositories, and a render directory cannot
// hold them), so also no cert-manager issuer or ServiceMonitors.
func ExistingCluster(cfg map[string]string, e Existing) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range cfg {
		out[k] = v
	}
	for _, k := range []string{"plinko:cluster", "plinko:registry", "plinko:build", "vultr:apiKey"} {
		delete(out, k)
	}
	existing, err := json.Marshal(map[string]string{
		"image": e.Image, "imagePullSecret": e.ImagePullSecret, "renderDir": e.RenderDir,
	})
	if err != nil {
		return nil, err
	}
	out["plinko:existingCluster"] = string(existing)
	if e.Kubeconfig != "" {
		out["plinko:kubeconfig"] = e.Kubeconfig
	}
	edits := map[string]func(map[string]any){
		"plinko:ingress": func(m map[string]any) {
			m["installController"] = false
			if tls, ok := m["tls"].(map[string]any); ok {
				tls["installCertManager"] = false
				tls["enabled"] = false
			}
		},
		"plinko:monitoring": func(m map[string]any) {
			m["enabled"] = false
			m["install"] = false
		},
	}
	for key, edit := range edits {
		m := map[string]any{}
		if v, ok := out[key]; ok {
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
		}
		edit(m)
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		out[key] = string(b)
	}
	return out, nil
}
