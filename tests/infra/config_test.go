package infra_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/plinko-pir/plinko/infra"
	"github.com/plinko-pir/plinko/infra/stackconfig"
	"github.com/plinko-pir/plinko/infra/vultr"
)

// A bad value fails the program before anything is registered, with an
// error that names the key and says what is expected.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name     string
		edit     func(cfg map[string]string)
		secret   []string
		wantText []string
	}{
		{
			name:     "api key in plain text",
			edit:     func(cfg map[string]string) { cfg["vultr:apiKey"] = "plain" },
			wantText: []string{"vultr:apiKey", "pulumi config set --secret vultr:apiKey"},
		},
		{
			name: "zero nodes",
			edit: func(cfg map[string]string) {
				var cluster map[string]any
				if err := json.Unmarshal([]byte(cfg["plinko:cluster"]), &cluster); err != nil {
					panic(err)
				}
				cluster["nodePool"].(map[string]any)["nodes"] = 0
				b, _ := json.Marshal(cluster)
				cfg["plinko:cluster"] = string(b)
			},
			wantText: []string{"plinko:cluster.nodePool.nodes", "at least 1"},
		},
		{
			name: "misspelt key",
			edit: func(cfg map[string]string) {
				cfg["plinko:scaling"] = `{"pirServer":{"min":2,"max":10},"cdnn":{"min":2,"max":10}}`
			},
			wantText: []string{"plinko:scaling", `unknown field "cdnn"`},
		},
		{
			name:     "floor above ceiling",
			edit:     func(cfg map[string]string) { cfg["plinko:scaling"] = `{"pirServer":{"min":5,"max":3}}` },
			wantText: []string{"plinko:scaling.pirServer", "min 5 max 3"},
		},
		{
			name: "runbook URL with a fragment",
			edit: func(cfg map[string]string) {
				cfg["plinko:monitoring"] = `{"enabled":true,"runbookUrl":"https://wiki.example/rb#top"}`
			},
			wantText: []string{"plinko:monitoring.runbookUrl", "without a #fragment"},
		},
		{
			name: "shared data on block storage",
			edit: func(cfg map[string]string) {
				cfg["plinko:storage"] = `{"data":{"class":"vultr-block-storage","accessMode":"ReadWriteMany","sizeGb":20}}`
			},
			wantText: []string{"plinko:storage.data.accessMode", "ReadWriteOnce only", "vultr-vfs-storage"},
		},
		{
			name:     "no cluster at all",
			edit:     func(cfg map[string]string) { delete(cfg, "plinko:cluster") },
			wantText: []string{"plinko:cluster", "plinko:existingCluster"},
		},
		{
			name: "TLS without hosts",
			edit: func(cfg map[string]string) {
				cfg["plinko:ingress"] = `{"tls":{"enabled":true,"installCertManager":true,"email":"ops@example.org"}}`
			},
			wantText: []string{"plinko:ingress.tls.enabled", "hosts"},
		},
		{
			name:     "even load balancer nodes",
			edit:     func(cfg map[string]string) { cfg["plinko:ingress"] = `{"loadBalancer":{"nodeCount":2}}` },
			wantText: []string{"plinko:ingress.loadBalancer.nodeCount", "odd"},
		},
		{
			name:     "bad block time",
			edit:     func(cfg map[string]string) { cfg["plinko:devnet"] = `{"blockTime":"soon"}` },
			wantText: []string{"plinko:devnet.blockTime", `"soon"`},
		},
		{
			name: "kubeconfig contents in plain text",
			edit: func(cfg map[string]string) {
				delete(cfg, "plinko:cluster")
				cfg["plinko:existingCluster"] = `{"image":"img"}`
				cfg["plinko:kubeconfig"] = testKubecfg
			},
			wantText: []string{"plinko:kubeconfig", "--secret"},
		},
		{
			name:     "existing cluster without image",
			edit:     func(cfg map[string]string) { delete(cfg, "plinko:cluster"); cfg["plinko:existingCluster"] = `{}` },
			wantText: []string{"plinko:existingCluster.image", "required"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := stackConfig(t, "dev")
			tc.edit(cfg)
			res := run(t, "dev", cfg, tc.secret...)
			if res.err == nil {
				t.Fatal("the program accepted a bad config")
			}
			t.Log(res.err)
			if !errors.Is(res.err, infra.ErrConfig) && !strings.Contains(res.err.Error(), infra.ErrConfig.Error()) {
				t.Errorf("error %q is not a config error", res.err)
			}
			for _, s := range tc.wantText {
				if !strings.Contains(res.err.Error(), s) {
					t.Errorf("error %q does not mention %q", res.err, s)
				}
			}
			if n := len(res.rec.all); n != 0 {
				t.Errorf("%d resources registered before the config was refused", n)
			}
		})
	}
}

// An existing cluster (or a render directory): no Vultr resources, no image
// build, the given image and pull secret, everything else as on Vultr. This
// is the configuration the real-engine test and operators use.
func TestExistingCluster(t *testing.T) {
	const image = "registry.example.org/plinko/plinko@sha256:abc"
	// ha has monitoring on: the derived config must turn every Helm release
	// and CRD-backed object off.
	cfg, err := stackconfig.ExistingCluster(stackConfig(t, "ha"), stackconfig.Existing{
		Image: image, ImagePullSecret: "regcred", RenderDir: "rendered", Kubeconfig: testKubecfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, "ha", cfg, "plinko:kubeconfig")
	if res.err != nil {
		t.Fatalf("program failed: %v", res.err)
	}
	r := res.rec
	for _, x := range r.all {
		if strings.HasPrefix(x.Type, "vultr:") || strings.HasPrefix(x.Type, "docker:") || x.Type == releaseT ||
			strings.Contains(x.Type, "monitoring.coreos.com") || strings.Contains(x.Type, "cert-manager.io") {
			t.Errorf("existing-cluster mode registered %s %s", x.Type, x.Name)
		}
	}
	checkProvider(t, r)
	p := r.find(t, "pulumi:providers:kubernetes", "kubernetes")
	eq(t, "renderYamlToDirectory", p.at("renderYamlToDirectory"), "rendered")
	eq(t, "kubeconfig", p.at("kubeconfig"), testKubecfg)
	if !p.isSecretAt("kubeconfig") {
		t.Error("kubeconfig is not secret")
	}
	for _, d := range append(r.ofType(deploymentT), r.ofType(jobT)...) {
		eq(t, d.Name+" image", d.at(pod+".containers[0].image"), image)
		eq(t, d.Name+" pull secret", d.at(pod+".imagePullSecrets[0].name"), "regcred")
	}
	if n := len(r.ofType("kubernetes:core/v1:Secret")); n != 0 {
		t.Errorf("%d secrets created; the pull secret exists already", n)
	}
	if n := len(r.ofType(deploymentT)); n != 5 {
		t.Errorf("deployments = %d, want 5", n)
	}
	// ha's own scaling survives the switch.
	eq(t, "pir-server floor", r.find(t, hpaT, "pir-server").at("spec.minReplicas"), float64(3))
	eq(t, "data size", r.find(t, pvcT, "plinko-data").at("spec.resources.requests.storage"), "100Gi")
	eq(t, "registryUrl", res.outputs["registryUrl"], "")
	eq(t, "image", res.outputs["image"], image)
}

// Hosts and TLS: one host per service, cert-manager's issuer, HTTPS URLs
// for the wallet page, and the ACME solver let through the network policy.
func TestHostsAndTLS(t *testing.T) {
	cfg := stackConfig(t, "prod")
	cfg["vultr:apiKey"] = "k"
	cfg["plinko:ingress"] = `{"installController":true,"hosts":{"wallet":"wallet.example.org","api":"api.example.org","cdn":"cdn.example.org"},` +
		`"tls":{"enabled":true,"installCertManager":true,"email":"ops@example.org"}}`
	res := run(t, "prod", cfg, "vultr:apiKey")
	if res.err != nil {
		t.Fatalf("program failed: %v", res.err)
	}
	r := res.rec
	api := r.find(t, ingressT, "pir-server")
	eq(t, "api host", api.at("spec.rules[0].host"), "api.example.org")
	eq(t, "api path", api.at("spec.rules[0].http.paths[0].path"), "/")
	eq(t, "api tls host", api.at("spec.tls[0].hosts"), []any{"api.example.org"})
	eq(t, "api tls secret", api.at("spec.tls[0].secretName"), "pir-server-tls")
	ann, _ := api.at("metadata.annotations").(map[string]any)
	eq(t, "issuer annotation", ann["cert-manager.io/cluster-issuer"], "letsencrypt")
	eq(t, "ssl redirect", ann["nginx.ingress.kubernetes.io/ssl-redirect"], "true")
	eq(t, "no rewrite with hosts", ann["nginx.ingress.kubernetes.io/rewrite-target"], nil)
	if !api.dependsOn("cert-manager.io/v1:ClusterIssuer::cluster-issuer") {
		t.Error("ingress does not wait for the issuer")
	}
	issuer := r.find(t, "kubernetes:cert-manager.io/v1:ClusterIssuer", "cluster-issuer")
	eq(t, "issuer email", issuer.at("spec.acme.email"), "ops@example.org")
	eq(t, "issuer solver class", issuer.at("spec.acme.solvers[0].http01.ingress.ingressClassName"), "nginx")
	eq(t, "cert-manager crds", r.find(t, releaseT, "cert-manager").at("values.crds.enabled"), true)
	wallet := r.find(t, deploymentT, "wallet")
	args, _ := wallet.at(pod + ".containers[0].args").([]any)
	joined := strings.Join(func() []string {
		var s []string
		for _, a := range args {
			s = append(s, a.(string))
		}
		return s
	}(), " ")
	for _, want := range []string{"--pir https://api.example.org/", "--cdn https://cdn.example.org/"} {
		if !strings.Contains(joined, want) {
			t.Errorf("wallet args %q lack %s", joined, want)
		}
	}
	in, _ := flowsOf(t, r)
	found := false
	for _, f := range in {
		if strings.HasPrefix(f, "ns/ingress-nginx -> ") && strings.HasSuffix(f, ":8089") {
			found = true
		}
	}
	if !found {
		t.Errorf("no flow lets the ACME HTTP-01 solver be reached: %v", in)
	}
	eq(t, "walletUrl", res.outputs["walletUrl"], "https://wallet.example.org/")
}

// Extra node pools are separate resources of the same cluster, with their
// own autoscaling bounds.
func TestExtraNodePools(t *testing.T) {
	cfg := stackConfig(t, "prod")
	cfg["vultr:apiKey"] = "k"
	var cluster map[string]any
	if err := json.Unmarshal([]byte(cfg["plinko:cluster"]), &cluster); err != nil {
		t.Fatal(err)
	}
	cluster["extraNodePools"] = []any{map[string]any{
		"label": "pir", "plan": "vc2-8c-16gb", "nodes": 2, "autoscale": map[string]any{"min": 2, "max": 6},
	}}
	b, _ := json.Marshal(cluster)
	cfg["plinko:cluster"] = string(b)
	res := run(t, "prod", cfg, "vultr:apiKey")
	if res.err != nil {
		t.Fatalf("program failed: %v", res.err)
	}
	pool := res.rec.find(t, vultr.KubernetesNodePoolsToken, "pool-pir")
	eq(t, "clusterId", pool.at("clusterId"), "cluster-id")
	eq(t, "plan", pool.at("plan"), "vc2-8c-16gb")
	eq(t, "nodeQuantity", pool.at("nodeQuantity"), float64(2))
	eq(t, "bounds", []any{pool.at("minNodes"), pool.at("maxNodes")}, []any{float64(2), float64(6)})
	eq(t, "plugin", pool.PluginURL, vultr.PluginDownloadURL)
	if !res.rec.find(t, "pulumi:providers:kubernetes", "kubernetes").dependsOn("KubernetesNodePools::pool-pir") {
		t.Error("the kubernetes provider does not wait for the extra pool")
	}
}

// A configured runbook base URL reaches every alert's runbook_url.
func TestRunbookURL(t *testing.T) {
	cfg := stackConfig(t, "dev")
	cfg["plinko:monitoring"] = `{"enabled":true,"runbookUrl":"https://wiki.example/plinko/runbook"}`
	res := run(t, "dev", cfg)
	if res.err != nil {
		t.Fatal(res.err)
	}
	rule := res.rec.find(t, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "plinko-alerts")
	first, _ := rule.at("spec.groups[0].rules[0].annotations").(map[string]any)
	eq(t, "runbook_url", first["runbook_url"], "https://wiki.example/plinko/runbook#plinkoupdaterlagblocks")
	// Without install the stack is someone else's: nothing waits for a release.
	if len(res.rec.ofType(releaseT)) != 1 || rule.dependsOn("kube-prometheus-stack") {
		t.Error("monitoring without install must not install or wait for kube-prometheus-stack")
	}
}
