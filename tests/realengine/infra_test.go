package realengine

import (
	"path/filepath"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinko-pir/plinko/infra"
	"github.com/plinko-pir/plinko/infra/stackconfig"
)

// testImage stands in for the runtime image: nothing is scheduled, so it is
// never pulled, but it has the by-digest form an operator would use.
const testImage = "registry.invalid/plinko/plinko@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// infraWorkload is the real program (infra.Program, what main.go runs) with a
// stack's own Pulumi.<stack>.yaml, switched to existing-cluster mode by
// stackconfig.ExistingCluster: no VKE cluster, registry or image build, and a
// kubeconfig for the local API server or a render directory instead. What
// that mode leaves out (Vultr resources, Helm releases whose charts are
// downloaded, the cert-manager issuer, ServiceMonitors) stays covered by the
// mock tests in tests/infra.
func infraWorkload(stack string) workload {
	return workload{
		Project: "plinko", // the config namespace infra reads (Pulumi.yaml name)
		Name:    stack,
		Stack: func(t *testing.T, tg target) (pulumi.RunFunc, auto.ConfigMap) {
			t.Helper()
			base, err := stackconfig.Read(filepath.Join("..", "..", "Pulumi."+stack+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := stackconfig.ExistingCluster(base, stackconfig.Existing{
				Image: testImage, RenderDir: tg.RenderDir, Kubeconfig: tg.Kubeconfig,
			})
			if err != nil {
				t.Fatalf("deriving the existing-cluster config of %s: %v", stack, err)
			}
			out := auto.ConfigMap{}
			for k, v := range cfg {
				// The kubeconfig carries the API server's token.
				out[k] = auto.ConfigValue{Value: v, Secret: k == "plinko:kubeconfig"}
			}
			return infra.Program, out
		},
	}
}
