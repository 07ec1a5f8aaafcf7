package infra_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/plinko-pir/plinko/infra/vultr"
)

// What each stack must stand up; the values come from the table and
// the design, not from the stack files, so a wrong stack file fails.
type stackWant struct {
	plan          string
	nodes         int
	autoscale     []float64 // nil: no autoscaling
	ha            bool
	dataGb        int
	registry      string
	pir           [2]float64
	lbNodes       float64
	ctrlReplicas  float64
	monitoring    bool
	extraReleases []string
}

var stacks = map[string]stackWant{
	"dev":  {plan: "vc2-2c-4gb", nodes: 3, dataGb: 20, registry: "plinkodev", pir: [2]float64{2, 10}, lbNodes: 1, ctrlReplicas: 1},
	"prod": {plan: "vc2-4c-8gb", nodes: 5, autoscale: []float64{5, 8}, dataGb: 50, registry: "plinkoprod", pir: [2]float64{3, 20}, lbNodes: 1, ctrlReplicas: 2, monitoring: true},
	"ha":   {plan: "vc2-4c-8gb", nodes: 10, autoscale: []float64{10, 15}, ha: true, dataGb: 100, registry: "plinkoha", pir: [2]float64{3, 20}, lbNodes: 3, ctrlReplicas: 3, monitoring: true},
}

// The seed's table: cpu request/limit, memory request/limit.
var resourceWant = map[string][4]string{
	"devnet":     {"1000m", "2000m", "2Gi", "4Gi"},
	"db-gen":     {"500m", "1000m", "1Gi", "2Gi"},
	"hint-gen":   {"1000m", "2000m", "2Gi", "4Gi"},
	"updater":    {"250m", "500m", "512Mi", "1Gi"},
	"pir-server": {"500m", "1000m", "1Gi", "2Gi"},
	"cdn":        {"100m", "250m", "128Mi", "256Mi"},
	"wallet":     {"100m", "250m", "128Mi", "256Mi"},
}

const (
	deploymentT = "kubernetes:apps/v1:Deployment"
	jobT        = "kubernetes:batch/v1:Job"
	hpaT        = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
	pdbT        = "kubernetes:policy/v1:PodDisruptionBudget"
	netpolT     = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	ingressT    = "kubernetes:networking.k8s.io/v1:Ingress"
	pvcT        = "kubernetes:core/v1:PersistentVolumeClaim"
	releaseT    = "kubernetes:helm.sh/v3:Release"
)

func TestStacks(t *testing.T) {
	for _, stack := range []string{"dev", "prod", "ha"} {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			want := stacks[stack]
			cfg := stackConfig(t, stack)
			cfg["vultr:apiKey"] = "test-api-key"
			res := run(t, stack, cfg, "vultr:apiKey")
			if res.err != nil {
				t.Fatalf("program failed: %v", res.err)
			}
			r := res.rec
			t.Run("cluster", func(t *testing.T) { checkCluster(t, r, want) })
			t.Run("registry and image", func(t *testing.T) { checkRegistry(t, r, want) })
			t.Run("storage", func(t *testing.T) { checkStorage(t, r, want) })
			t.Run("namespace", func(t *testing.T) { checkNamespace(t, r) })
			t.Run("provider", func(t *testing.T) { checkProvider(t, r) })
			t.Run("workloads", func(t *testing.T) { checkWorkloads(t, r, want) })
			t.Run("autoscaling", func(t *testing.T) { checkScaling(t, r, want) })
			t.Run("job ordering", func(t *testing.T) { checkOrdering(t, r) })
			t.Run("ingress", func(t *testing.T) { checkIngress(t, r, want) })
			t.Run("network policies", func(t *testing.T) { checkNetwork(t, r, want) })
			t.Run("monitoring", func(t *testing.T) { checkMonitoring(t, r, want) })
			t.Run("outputs", func(t *testing.T) { checkOutputs(t, res, want) })
		})
	}
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func checkCluster(t *testing.T, r *recorder, w stackWant) {
	c := r.find(t, vultr.KubernetesToken, "cluster")
	eq(t, "plugin download URL", c.PluginURL, "github://api.github.com/dirien/pulumi-vultr")
	if !strings.HasPrefix(c.Version, "2.") {
		t.Errorf("plugin version %q is not a pinned 2.x", c.Version)
	}
	eq(t, "nodePools.plan", c.at("nodePools.plan"), w.plan)
	eq(t, "nodePools.nodeQuantity", c.at("nodePools.nodeQuantity"), float64(w.nodes))
	eq(t, "haControlplanes", c.at("haControlplanes"), w.ha)
	if w.autoscale == nil {
		eq(t, "nodePools.autoScaler", c.at("nodePools.autoScaler"), nil)
	} else {
		eq(t, "nodePools.autoScaler", c.at("nodePools.autoScaler"), true)
		eq(t, "nodePools bounds", []float64{c.at("nodePools.minNodes").(float64), c.at("nodePools.maxNodes").(float64)}, w.autoscale)
	}
	for _, k := range []string{"label", "region", "version"} {
		if s, _ := c.at(k).(string); s == "" {
			t.Errorf("cluster %s is empty", k)
		}
	}
	secret := map[string]bool{}
	for _, s := range c.SecretOuts {
		secret[s] = true
	}
	if !secret["kubeConfig"] || !secret["clientKey"] {
		t.Errorf("kubeConfig and clientKey must be secret outputs, got %v", c.SecretOuts)
	}
	p := r.find(t, "pulumi:providers:kubernetes", "kubernetes")
	if !p.isSecretAt("kubeconfig") {
		t.Error("the kubernetes provider's kubeconfig is not secret")
	}
	eq(t, "provider kubeconfig", p.at("kubeconfig"), testKubecfg)
}

func checkRegistry(t *testing.T, r *recorder, w stackWant) {
	reg := r.find(t, vultr.ContainerRegistryToken, "registry")
	eq(t, "registry name", reg.at("name"), w.registry)
	eq(t, "registry plugin", reg.PluginURL, vultr.PluginDownloadURL)
	eq(t, "registry secret outputs", reg.SecretOuts, []string{"rootUser"})
	img := r.find(t, "docker:index/image:Image", "plinko")
	prefix := "ewr.vultrcr.com/" + w.registry + "/plinko:"
	if name, _ := img.at("imageName").(string); !strings.HasPrefix(name, prefix) {
		t.Errorf("imageName %q, want prefix %q", name, prefix)
	}
	eq(t, "build dockerfile", img.at("build.dockerfile"), "runtime/Dockerfile")
	eq(t, "build platform", img.at("build.platform"), "linux/amd64")
	eq(t, "registry server", img.at("registry.server"), "ewr.vultrcr.com")
	eq(t, "registry username", img.at("registry.username"), testRegUser)
	if !img.isSecretAt("registry.password") {
		t.Error("the registry password given to docker is not secret")
	}
	ps := r.find(t, "kubernetes:core/v1:Secret", "registry-credentials")
	eq(t, "pull secret type", ps.at("type"), "kubernetes.io/dockerconfigjson")
	if !ps.isSecretAt("stringData") {
		t.Error("the image pull secret's data is not secret")
	}
	data, _ := ps.at("stringData").(map[string]any)
	body, _ := data[".dockerconfigjson"].(string)
	var dc struct {
		Auths map[string]struct{ Username, Password, Auth string }
	}
	if err := json.Unmarshal([]byte(body), &dc); err != nil {
		t.Fatalf("pull secret body %q: %v", body, err)
	}
	a := dc.Auths["ewr.vultrcr.com"]
	eq(t, "pull secret user", a.Username, testRegUser)
	eq(t, "pull secret password", a.Password, testRegSecret)
	eq(t, "pull secret auth", a.Auth, base64.StdEncoding.EncodeToString([]byte(testRegUser+":"+testRegSecret)))
}

func checkStorage(t *testing.T, r *recorder, w stackWant) {
	data := r.find(t, pvcT, "plinko-data")
	eq(t, "data size", data.at("spec.resources.requests.storage"), fmt.Sprintf("%dGi", w.dataGb))
	eq(t, "data class", data.at("spec.storageClassName"), "vultr-vfs-storage")
	eq(t, "data access", data.at("spec.accessModes"), []any{"ReadWriteMany"})
	chain := r.find(t, pvcT, "devnet-chain")
	eq(t, "chain class", chain.at("spec.storageClassName"), "vultr-block-storage")
	eq(t, "chain access", chain.at("spec.accessModes"), []any{"ReadWriteOnce"})
	eq(t, "chain size", chain.at("spec.resources.requests.storage"), fmt.Sprintf("%dGi", w.dataGb))
}

func checkNamespace(t *testing.T, r *recorder) {
	ns := r.find(t, "kubernetes:core/v1:Namespace", "plinko")
	labels, _ := ns.at("metadata.labels").(map[string]any)
	for _, mode := range []string{"enforce", "audit", "warn"} {
		eq(t, "PSA "+mode, labels["pod-security.kubernetes.io/"+mode], "restricted")
	}
}

// Every Kubernetes object goes through the program's provider (the new
// cluster's kubeconfig), never the ambient default provider.
func checkProvider(t *testing.T, r *recorder) {
	n := 0
	for _, x := range r.all {
		if !x.Custom || !strings.HasPrefix(x.Type, "kubernetes:") {
			continue
		}
		n++
		if !strings.Contains(x.Provider, "::pulumi:providers:kubernetes::kubernetes::") {
			t.Errorf("%s %s uses provider %q", x.Type, x.Name, x.Provider)
		}
	}
	if n < 30 {
		t.Errorf("only %d Kubernetes objects", n)
	}
}

// podOf returns the pod spec path of a Deployment or Job.
const pod = "spec.template.spec"

func checkPodPolicy(t *testing.T, x registered, name string) {
	t.Helper()
	c := pod + ".containers[0]"
	eq(t, name+" container count", len(x.at(pod+".containers").([]any)), 1)
	rw := resourceWant[name]
	eq(t, name+" cpu request", x.at(c+".resources.requests.cpu"), rw[0])
	eq(t, name+" cpu limit", x.at(c+".resources.limits.cpu"), rw[1])
	eq(t, name+" memory request", x.at(c+".resources.requests.memory"), rw[2])
	eq(t, name+" memory limit", x.at(c+".resources.limits.memory"), rw[3])
	eq(t, name+" runAsNonRoot", x.at(c+".securityContext.runAsNonRoot"), true)
	eq(t, name+" readOnlyRootFilesystem", x.at(c+".securityContext.readOnlyRootFilesystem"), true)
	eq(t, name+" allowPrivilegeEscalation", x.at(c+".securityContext.allowPrivilegeEscalation"), false)
	eq(t, name+" capabilities.drop", x.at(c+".securityContext.capabilities.drop"), []any{"ALL"})
	eq(t, name+" seccomp", x.at(c+".securityContext.seccompProfile.type"), "RuntimeDefault")
	eq(t, name+" pod runAsNonRoot", x.at(pod+".securityContext.runAsNonRoot"), true)
	eq(t, name+" pod seccomp", x.at(pod+".securityContext.seccompProfile.type"), "RuntimeDefault")
	eq(t, name+" automount token", x.at(pod+".automountServiceAccountToken"), false)
	eq(t, name+" pull secret", x.at(pod+".imagePullSecrets[0].name"), "registry-credentials")
	if img, _ := x.at(c + ".image").(string); !strings.HasSuffix(img, "@"+testDigest) {
		t.Errorf("%s image %q is not the pushed digest", name, img)
	}
	if args, _ := x.at(c + ".args").([]any); len(args) == 0 || args[0] != name || args[len(args)-1] != "--log-format=json" {
		t.Errorf("%s runs %v, want the %q subcommand with JSON logs", name, args, name)
	}
	labels, _ := x.at("spec.template.metadata.labels").(map[string]any)
	for _, k := range []string{"name", "instance", "component", "part-of", "managed-by"} {
		if labels["app.kubernetes.io/"+k] == nil {
			t.Errorf("%s pod lacks label app.kubernetes.io/%s", name, k)
		}
	}
	eq(t, name+" name label", labels["app.kubernetes.io/name"], name)
}

func checkWorkloads(t *testing.T, r *recorder, w stackWant) {
	deployments := map[string]bool{"devnet": false, "updater": false, "pir-server": true, "cdn": true, "wallet": true}
	var names []string
	for _, d := range r.ofType(deploymentT) {
		names = append(names, d.Name)
	}
	eq(t, "deployments", names, []string{"cdn", "devnet", "pir-server", "updater", "wallet"})
	for name, replicated := range deployments {
		d := r.find(t, deploymentT, name)
		checkPodPolicy(t, d, name)
		c := pod + ".containers[0]"
		switch name {
		case "devnet":
			eq(t, "devnet liveness", d.at(c+".livenessProbe.tcpSocket.port"), "rpc")
			eq(t, "devnet readiness", d.at(c+".readinessProbe.tcpSocket.port"), "rpc")
		case "updater":
			// It serves only /metrics: the probe checks that it keeps publishing.
			exec := []any{"/usr/local/bin/plinko", "probe", "--dir", "/data/public", "--max-age", "4m0s"}
			args, _ := d.at(c + ".args").([]any)
			eq(t, "updater metrics flag", fmt.Sprint(args[len(args)-3:len(args)-1]), "[--metrics-addr 0.0.0.0:9090]") // --log-format=json last
			eq(t, "updater metrics port", d.at(c+".ports[0]"), map[string]any{"name": "metrics", "containerPort": float64(9090), "protocol": "TCP"})
			eq(t, "updater liveness", d.at(c+".livenessProbe.exec.command"), exec)
			eq(t, "updater readiness", d.at(c+".readinessProbe.exec.command"), exec)
			eq(t, "updater startup", d.at(c+".startupProbe.exec.command"), exec)
		default:
			eq(t, name+" liveness", d.at(c+".livenessProbe.httpGet.path"), "/healthz")
			eq(t, name+" liveness port", d.at(c+".livenessProbe.httpGet.port"), "http")
			eq(t, name+" readiness", d.at(c+".readinessProbe.httpGet.path"), "/readyz")
		}
		pdbs := 0
		for _, p := range r.ofType(pdbT) {
			if p.Name == name {
				pdbs++
				eq(t, name+" pdb maxUnavailable", p.at("spec.maxUnavailable"), float64(1))
			}
		}
		if replicated {
			eq(t, name+" strategy", d.at("spec.strategy.type"), "RollingUpdate")
			eq(t, name+" maxUnavailable", d.at("spec.strategy.rollingUpdate.maxUnavailable"), float64(0))
			eq(t, name+" spread key", d.at(pod+".topologySpreadConstraints[0].topologyKey"), "kubernetes.io/hostname")
			eq(t, name+" anti-affinity", d.at(pod+".affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey"), "kubernetes.io/hostname")
			eq(t, name+" PDBs", pdbs, 1)
		} else {
			// Singletons own a volume or are the single writer.
			eq(t, name+" strategy", d.at("spec.strategy.type"), "Recreate")
			eq(t, name+" replicas", d.at("spec.replicas"), float64(1))
			eq(t, name+" PDBs", pdbs, 0)
		}
	}
	for _, name := range []string{"db-gen", "hint-gen"} {
		j := r.find(t, jobT, name)
		checkPodPolicy(t, j, name)
		eq(t, name+" restartPolicy", j.at(pod+".restartPolicy"), "Never")
		eq(t, name+" liveness", j.at(pod+".containers[0].livenessProbe"), nil)
		if d, _ := j.at("spec.activeDeadlineSeconds").(float64); d < 60 {
			t.Errorf("%s has no deadline", name)
		}
		eq(t, name+" data mount", j.at(pod+".containers[0].volumeMounts[1].mountPath"), "/data")
	}
	// The cdn only reads the data; the pir-server needs no volume at all.
	eq(t, "cdn data read-only", r.find(t, deploymentT, "cdn").at(pod+".containers[0].volumeMounts[1].readOnly"), true)
	eq(t, "pir-server volumes", len(r.find(t, deploymentT, "pir-server").at(pod+".volumes").([]any)), 1)
	var services []string
	for _, s := range r.ofType("kubernetes:core/v1:Service") {
		services = append(services, s.Name)
	}
	eq(t, "services", services, []string{"cdn", "devnet", "pir-server", "updater", "wallet"})
}

func checkScaling(t *testing.T, r *recorder, w stackWant) {
	bounds := map[string][2]float64{"pir-server": w.pir, "cdn": {2, 10}, "wallet": {2, 5}}
	var names []string
	for _, h := range r.ofType(hpaT) {
		names = append(names, h.Name)
	}
	eq(t, "HPAs", names, []string{"cdn", "pir-server", "wallet"})
	for name, b := range bounds {
		h := r.find(t, hpaT, name)
		eq(t, name+" minReplicas", h.at("spec.minReplicas"), b[0])
		eq(t, name+" maxReplicas", h.at("spec.maxReplicas"), b[1])
		eq(t, name+" target", h.at("spec.scaleTargetRef.name"), name)
		eq(t, name+" cpu metric", h.at("spec.metrics[0].resource.name"), "cpu")
		eq(t, name+" memory metric", h.at("spec.metrics[1].resource.name"), "memory")
		eq(t, name+" initial replicas", r.find(t, deploymentT, name).at("spec.replicas"), b[0])
	}
}

func checkOrdering(t *testing.T, r *recorder) {
	if !r.find(t, jobT, "db-gen").dependsOn("apps/v1:Deployment::devnet") {
		t.Error("db-gen does not wait for devnet")
	}
	if !r.find(t, jobT, "hint-gen").dependsOn("batch/v1:Job::db-gen") {
		t.Error("hint-gen does not wait for db-gen")
	}
	for _, name := range []string{"updater", "cdn"} {
		if !r.find(t, deploymentT, name).dependsOn("batch/v1:Job::hint-gen") {
			t.Errorf("%s does not wait for hint-gen", name)
		}
	}
	if !r.find(t, deploymentT, "pir-server").dependsOn("apps/v1:Deployment::cdn") {
		t.Error("pir-server does not wait for the cdn it loads from")
	}
}

func checkIngress(t *testing.T, r *recorder, w stackWant) {
	var names []string
	for _, i := range r.ofType(ingressT) {
		names = append(names, i.Name)
		eq(t, i.Name+" class", i.at("spec.ingressClassName"), "nginx")
		if !i.dependsOn("helm.sh/v3:Release::ingress-nginx") {
			t.Errorf("ingress %s does not wait for the controller", i.Name)
		}
		if !i.dependsOn("core/v1:Service::" + i.Name) {
			t.Errorf("ingress %s does not wait for its Service", i.Name)
		}
	}
	eq(t, "ingresses", names, []string{"cdn", "pir-server", "wallet"})
	api := r.find(t, ingressT, "pir-server")
	ann, _ := api.at("metadata.annotations").(map[string]any)
	eq(t, "api rewrite", ann["nginx.ingress.kubernetes.io/rewrite-target"], "/$2")
	eq(t, "api regex", ann["nginx.ingress.kubernetes.io/use-regex"], "true")
	eq(t, "api path", api.at("spec.rules[0].http.paths[0].path"), "/api(/|$)(.*)")
	eq(t, "cdn path", r.find(t, ingressT, "cdn").at("spec.rules[0].http.paths[0].path"), "/cdn(/|$)(.*)")
	eq(t, "wallet path", r.find(t, ingressT, "wallet").at("spec.rules[0].http.paths[0].path"), "/")

	nginx := r.find(t, releaseT, "ingress-nginx")
	eq(t, "ingress-nginx chart", nginx.at("chart"), "ingress-nginx")
	eq(t, "controller replicas", nginx.at("values.controller.replicaCount"), w.ctrlReplicas)
	lb, _ := nginx.at("values.controller.service.annotations").(map[string]any)
	const p = "service.beta.kubernetes.io/vultr-loadbalancer-"
	eq(t, "LB protocol", lb[p+"protocol"], "tcp")
	eq(t, "LB node count", lb[p+"node-count"], fmt.Sprint(w.lbNodes))
	if lb[p+"algorithm"] == nil || lb[p+"label"] == nil {
		t.Errorf("LB annotations incomplete: %v", lb)
	}
	var releases []string
	for _, rel := range r.ofType(releaseT) {
		releases = append(releases, rel.Name)
	}
	wantReleases := []string{"ingress-nginx"}
	if w.monitoring {
		wantReleases = append(wantReleases, "kube-prometheus-stack")
		sort.Strings(wantReleases)
	}
	eq(t, "helm releases", releases, wantReleases)
}

// flowsOf turns the recorded NetworkPolicies into "from -> to:port" lines.
func flowsOf(t *testing.T, r *recorder) (in, out []string) {
	peer := func(v any) string {
		m, _ := v.(map[string]any)
		if ns, ok := m["namespaceSelector"].(map[string]any); ok {
			labels, _ := ns["matchLabels"].(map[string]any)
			return fmt.Sprint("ns/", labels["kubernetes.io/metadata.name"])
		}
		ps, _ := m["podSelector"].(map[string]any)
		labels, _ := ps["matchLabels"].(map[string]any)
		if n, ok := labels["app.kubernetes.io/name"]; ok {
			return fmt.Sprint(n)
		}
		return fmt.Sprint(labels)
	}
	for _, np := range r.ofType(netpolT) {
		self := peer(map[string]any{"podSelector": np.at("spec.podSelector")})
		types, _ := np.at("spec.policyTypes").([]any)
		if np.Name == "default-deny" {
			eq(t, "default-deny selector", np.at("spec.podSelector"), map[string]any{})
			eq(t, "default-deny types", types, []any{"Ingress", "Egress"})
			eq(t, "default-deny rules", np.at("spec.ingress") == nil && np.at("spec.egress") == nil, true)
			continue
		}
		if np.Name == "allow-dns" {
			eq(t, "dns port", np.at("spec.egress[0].ports[0].port"), float64(53))
			continue
		}
		rules, _ := np.at("spec.ingress").([]any)
		for _, rule := range rules {
			m := rule.(map[string]any)
			for _, f := range m["from"].([]any) {
				port := m["ports"].([]any)[0].(map[string]any)["port"]
				in = append(in, fmt.Sprintf("%s -> %s:%v", peer(f), self, port))
			}
		}
		rules, _ = np.at("spec.egress").([]any)
		for _, rule := range rules {
			m := rule.(map[string]any)
			for _, to := range m["to"].([]any) {
				port := m["ports"].([]any)[0].(map[string]any)["port"]
				out = append(out, fmt.Sprintf("%s -> %s:%v", self, peer(to), port))
			}
		}
	}
	sort.Strings(in)
	sort.Strings(out)
	return in, out
}

func checkNetwork(t *testing.T, r *recorder, w stackWant) {
	in, out := flowsOf(t, r)
	wantIn := []string{
		"db-gen -> devnet:8545",
		"ns/ingress-nginx -> cdn:8080",
		"ns/ingress-nginx -> pir-server:8080",
		"ns/ingress-nginx -> wallet:8080",
		"pir-server -> cdn:8080",
		"updater -> devnet:8546",
	}
	if w.monitoring {
		for _, s := range []string{"cdn:8080", "pir-server:8080", "updater:9090"} {
			wantIn = append(wantIn, "ns/monitoring -> "+s)
		}
	}
	sort.Strings(wantIn)
	wantOut := []string{
		"db-gen -> devnet:8545",
		"pir-server -> cdn:8080",
		"updater -> devnet:8546",
	}
	eq(t, "allowed ingress flows", in, wantIn)
	eq(t, "allowed egress flows", out, wantOut)
}

func checkOutputs(t *testing.T, res result, w stackWant) {
	o := res.outputs
	eq(t, "walletUrl", o["walletUrl"], "http://"+testLBIP+"/")
	eq(t, "apiUrl", o["apiUrl"], "http://"+testLBIP+"/api/")
	eq(t, "cdnUrl", o["cdnUrl"], "http://"+testLBIP+"/cdn/")
	eq(t, "loadBalancerIp", o["loadBalancerIp"], testLBIP)
	eq(t, "registryUrl", o["registryUrl"], "ewr.vultrcr.com/"+w.registry)
	eq(t, "kubeconfig", o["kubeconfig"], testKubecfg)
	if !res.secret["kubeconfig"] {
		t.Error("the kubeconfig output is not secret")
	}
	for _, k := range []string{"walletUrl", "apiUrl", "cdnUrl", "loadBalancerIp", "registryUrl"} {
		if res.secret[k] {
			t.Errorf("output %s is secret; it should be readable", k)
		}
	}
}

// checkMonitoring: with monitoring on, a ServiceMonitor per service with
// /metrics, the PrometheusRule of infra/monitoring with runbook links, and
// the dashboard ConfigMap for Grafana's sidecar; with it off, none of them.
func checkMonitoring(t *testing.T, r *recorder, w stackWant) {
	const (
		smT   = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
		ruleT = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
		cmT   = "kubernetes:core/v1:ConfigMap"
	)
	var monitors []string
	for _, sm := range r.ofType(smT) {
		monitors = append(monitors, fmt.Sprint(sm.Name, ":", sm.at("spec.endpoints[0].port")))
		eq(t, sm.Name+" release label", sm.at("metadata.labels.release"), "kube-prometheus-stack")
		sel, _ := sm.at("spec.selector.matchLabels").(map[string]any)
		eq(t, sm.Name+" selector", sel["app.kubernetes.io/name"], sm.Name)
	}
	if !w.monitoring {
		eq(t, "service monitors", monitors, []string(nil))
		eq(t, "prometheus rules", len(r.ofType(ruleT)), 0)
		eq(t, "config maps", len(r.ofType(cmT)), 0)
		return
	}
	eq(t, "service monitors", monitors, []string{"cdn:http", "pir-server:http", "updater:metrics"})
	rule := r.find(t, ruleT, "plinko-alerts")
	eq(t, "rule namespace", rule.at("metadata.namespace"), "plinko")
	eq(t, "rule release label", rule.at("metadata.labels.release"), "kube-prometheus-stack")
	if !rule.dependsOn("kube-prometheus-stack") {
		t.Error("the PrometheusRule does not wait for the Prometheus stack (its CRDs)")
	}
	var alerts []string
	groups, _ := rule.at("spec.groups").([]any)
	for _, g := range groups {
		for _, x := range g.(map[string]any)["rules"].([]any) {
			a := x.(map[string]any)
			alerts = append(alerts, a["alert"].(string))
			ann := a["annotations"].(map[string]any)
			want := "https://github.com/plinko-pir/plinko/blob/main/infra/RUNBOOK.md#" + strings.ToLower(a["alert"].(string))
			eq(t, a["alert"].(string)+" runbook_url", ann["runbook_url"], want)
			if a["expr"] == "" || a["labels"].(map[string]any)["severity"] == nil {
				t.Errorf("rule %v lacks expr or severity", a)
			}
		}
	}
	sort.Strings(alerts)
	eq(t, "alerts", alerts, []string{"PlinkoCdn5xx", "PlinkoJobFailed", "PlinkoLookupErrors", "PlinkoLookupLatencyP99",
		"PlinkoPirServerEpochBehind", "PlinkoPodCrashLooping", "PlinkoSnapshotStale", "PlinkoUpdaterLagBlocks",
		"PlinkoUpdaterLagSeconds", "PlinkoUpdaterStalled", "PlinkoVolumeFull"})
	cm := r.find(t, cmT, "plinko-dashboard")
	eq(t, "dashboard namespace", cm.at("metadata.namespace"), "monitoring")
	eq(t, "dashboard sidecar label", cm.at("metadata.labels.grafana_dashboard"), "1")
	var dash struct {
		UID    string
		Panels []any
	}
	data, _ := cm.at("data").(map[string]any)
	body, _ := data["plinko.json"].(string)
	if err := json.Unmarshal([]byte(body), &dash); err != nil || dash.UID != "plinko-slo" || len(dash.Panels) < 10 {
		t.Errorf("dashboard JSON: uid %q, %d panels, %v", dash.UID, len(dash.Panels), err)
	}
}
