package infra

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinko-pir/plinko/infra/vultr"
)

// ErrConfig marks every configuration error, so that callers (and tests) can
// tell a bad stack config from a failure of the program itself.
var ErrConfig = errors.New("invalid stack configuration")

// configNamespace is the project's config namespace (Pulumi.yaml name).
const configNamespace = "plinko"

// Config is the typed stack configuration. Every difference between stacks
// lives in Pulumi.<stack>.yaml under these keys; the program never looks at
// the stack's name. Each field is one config key, an object written as YAML
// in the stack file (see infra/README.md for every key and its default).
type Config struct {
	// Namespace (plinko:namespace) every workload runs in.
	Namespace string
	// Cluster (plinko:cluster) creates a VKE cluster, a registry and the
	// images. Exactly one of Cluster and Existing is set.
	Cluster *ClusterConfig
	// Registry (plinko:registry) is the container registry made with Cluster.
	Registry RegistryConfig
	// Build (plinko:build) says how the runtime image is built with Cluster.
	Build BuildConfig
	// Existing (plinko:existingCluster) deploys the workloads to a cluster
	// that already exists (or renders them to YAML) with a prebuilt image.
	Existing *ExistingConfig
	// Storage (plinko:storage): the shared data volume and the chain volume.
	Storage StorageConfig
	// Devnet (plinko:devnet): the dev chain.
	Devnet DevnetConfig
	// Pipeline (plinko:pipeline): the db-gen and hint-gen Jobs.
	Pipeline PipelineConfig
	// Scaling (plinko:scaling): replica floors and ceilings, HPA targets.
	Scaling ScalingConfig
	// Ingress (plinko:ingress): class, controller, hosts, TLS, load balancer.
	Ingress IngressConfig
	// Monitoring (plinko:monitoring): ServiceMonitors and the Prometheus stack.
	Monitoring MonitoringConfig

	// Kubeconfig (plinko:kubeconfig, secret, optional with Existing) is the
	// kubeconfig contents or path; unset means the ambient KUBECONFIG.
	Kubeconfig pulumi.StringOutput
	// HasKubeconfig says whether plinko:kubeconfig is set.
	HasKubeconfig bool
}

// ClusterConfig describes the VKE cluster.
type ClusterConfig struct {
	Region          string           `json:"region"`
	Version         string           `json:"version"`
	Label           string           `json:"label"`
	HAControlPlanes bool             `json:"haControlPlanes"`
	EnableFirewall  bool             `json:"enableFirewall"`
	NodePool        NodePoolConfig   `json:"nodePool"`
	ExtraNodePools  []NodePoolConfig `json:"extraNodePools"`
}

// NodePoolConfig is one node pool; Autoscale, when set, lets VKE scale it.
type NodePoolConfig struct {
	Label     string  `json:"label"`
	Plan      string  `json:"plan"`
	Nodes     int     `json:"nodes"`
	Autoscale *Bounds `json:"autoscale"`
}

// RegistryConfig describes the Vultr container registry.
type RegistryConfig struct {
	Name   string `json:"name"`
	Plan   string `json:"plan"`
	Public bool   `json:"public"`
}

// BuildConfig says how `pulumi up` builds the runtime image.
type BuildConfig struct {
	Context    string `json:"context"`    // build context, relative to the project
	Dockerfile string `json:"dockerfile"` // relative to the project
	Platform   string `json:"platform"`   // the nodes' platform
	Tag        string `json:"tag"`        // image tag; pods use the pushed digest
}

// ExistingConfig deploys to a cluster that exists already.
type ExistingConfig struct {
	// Image is the runtime image reference (ideally by digest).
	Image string `json:"image"`
	// ImagePullSecret names an existing dockerconfigjson secret in the
	// namespace, if the image's registry needs credentials.
	ImagePullSecret string `json:"imagePullSecret"`
	// RenderDir, when set, writes every manifest under this directory
	// (the provider's renderYamlToDirectory) instead of talking to a cluster.
	RenderDir string `json:"renderDir"`
}

// StorageConfig has the two volumes: the shared data and the chain's data.
type StorageConfig struct {
	Data  VolumeConfig `json:"data"`
	Chain VolumeConfig `json:"chain"`
}

// VolumeConfig is one PersistentVolumeClaim.
type VolumeConfig struct {
	Class      string `json:"class"`
	SizeGb     int    `json:"sizeGb"`
	AccessMode string `json:"accessMode"`
}

// DevnetConfig configures the dev chain.
type DevnetConfig struct {
	Accounts  int    `json:"accounts"`
	BlockTime string `json:"blockTime"`
}

// PipelineConfig bounds the bootstrap Jobs.
type PipelineConfig struct {
	DeadlineSeconds int `json:"deadlineSeconds"`
	BackoffLimit    int `json:"backoffLimit"`
}

// Bounds is a replica (or node) floor and ceiling.
type Bounds struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// ScalingConfig sets each replicated service's HPA.
type ScalingConfig struct {
	PirServer     Bounds `json:"pirServer"`
	Cdn           Bounds `json:"cdn"`
	Wallet        Bounds `json:"wallet"`
	CPUPercent    int    `json:"cpuPercent"`
	MemoryPercent int    `json:"memoryPercent"`
}

// IngressConfig configures how the public services are reached.
type IngressConfig struct {
	ClassName           string      `json:"className"`
	InstallController   bool        `json:"installController"`
	ControllerNamespace string      `json:"controllerNamespace"`
	ControllerReplicas  int         `json:"controllerReplicas"`
	Hosts               HostsConfig `json:"hosts"`
	TLS                 TLSConfig   `json:"tls"`
	LoadBalancer        LBConfig    `json:"loadBalancer"`
}

// HostsConfig names the public hosts; empty means one host-less ingress on
// the load balancer's IP with paths / (wallet), /api and /cdn.
type HostsConfig struct {
	Wallet string `json:"wallet"`
	API    string `json:"api"`
	Cdn    string `json:"cdn"`
}

// TLSConfig turns on HTTPS through cert-manager.
type TLSConfig struct {
	Enabled            bool   `json:"enabled"`
	InstallCertManager bool   `json:"installCertManager"`
	Email              string `json:"email"`
	Issuer             string `json:"issuer"`
	AcmeServer         string `json:"acmeServer"`
}

// LBConfig sets the Vultr load balancer in front of ingress-nginx.
type LBConfig struct {
	NodeCount     int    `json:"nodeCount"`
	Algorithm     string `json:"algorithm"`
	FirewallRules string `json:"firewallRules"`
}

// MonitoringConfig turns on ServiceMonitors and kube-prometheus-stack.
type MonitoringConfig struct {
	Enabled bool   `json:"enabled"`
	Install bool   `json:"install"`
	Release string `json:"release"`
	// Namespace the Prometheus stack runs in (its scrapes are let through);
	// the Grafana dashboard's ConfigMap goes there, for Grafana's sidecar.
	Namespace string `json:"namespace"`
	// RunbookURL is the base of each alert's runbook_url (an anchor per
	// alert is appended); default: infra/RUNBOOK.md on GitHub.
	RunbookURL string `json:"runbookUrl"`
}

// defaults are what a key means when it is not in the stack file.
func defaults() Config {
	return Config{
		Namespace: "plinko",
		Registry:  RegistryConfig{Plan: "start_up"},
		Build:     BuildConfig{Context: ".", Dockerfile: "runtime/Dockerfile", Platform: "linux/amd64"},
		Storage: StorageConfig{
			Data:  VolumeConfig{Class: "vultr-vfs-storage", SizeGb: 20, AccessMode: "ReadWriteMany"},
			Chain: VolumeConfig{Class: "vultr-block-storage", SizeGb: 20, AccessMode: "ReadWriteOnce"},
		},
		Devnet:   DevnetConfig{Accounts: 10000, BlockTime: "12s"},
		Pipeline: PipelineConfig{DeadlineSeconds: 3600, BackoffLimit: 2},
		Scaling: ScalingConfig{
			PirServer: Bounds{2, 10}, Cdn: Bounds{2, 10}, Wallet: Bounds{2, 5},
			CPUPercent: 70, MemoryPercent: 80,
		},
		Ingress: IngressConfig{
			ClassName: "nginx", ControllerNamespace: "ingress-nginx", ControllerReplicas: 2,
			TLS:          TLSConfig{Issuer: "letsencrypt", AcmeServer: "https://acme-v02.api.letsencrypt.org/directory"},
			LoadBalancer: LBConfig{NodeCount: 1, Algorithm: "roundrobin"},
		},
		Monitoring: MonitoringConfig{Namespace: "monitoring", Release: "kube-prometheus-stack"},
	}
}

// LoadConfig reads and validates the stack configuration. Every error wraps
// ErrConfig and names the key at fault.
func LoadConfig(ctx *pulumi.Context) (*Config, error) {
	c := defaults()
	if v, ok := get(ctx, "namespace"); ok {
		c.Namespace = v
	}
	var cluster ClusterConfig
	var existing ExistingConfig
	hasCluster, err := decodeKey(ctx, "cluster", &cluster)
	if err != nil {
		return nil, err
	}
	hasExisting, err := decodeKey(ctx, "existingCluster", &existing)
	if err != nil {
		return nil, err
	}
	if hasCluster {
		c.Cluster = &cluster
	}
	if hasExisting {
		c.Existing = &existing
	}
	for key, dst := range map[string]any{
		"registry": &c.Registry, "build": &c.Build, "storage": &c.Storage, "devnet": &c.Devnet,
		"pipeline": &c.Pipeline, "scaling": &c.Scaling, "ingress": &c.Ingress, "monitoring": &c.Monitoring,
	} {
		if _, err := decodeKey(ctx, key, dst); err != nil {
			return nil, err
		}
	}
	if v, ok := get(ctx, "kubeconfig"); ok {
		// A kubeconfig's contents are credentials: in plain text they would
		// be committed with the stack file. (A path may stay plain.)
		if strings.Contains(v, "apiVersion") && !ctx.IsConfigSecret(configNamespace+":kubeconfig") {
			return nil, bad("kubeconfig", "holds a kubeconfig's contents in plain text; set it with `pulumi config set --secret plinko:kubeconfig \"$(cat kubeconfig)\"`")
		}
		// Secret whether or not it was set so.
		c.Kubeconfig = pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput)
		c.HasKubeconfig = true
	}
	if err := c.validate(ctx); err != nil {
		return nil, err
	}
	return &c, nil
}

// get returns the raw value of plinko:<key>.
func get(ctx *pulumi.Context, key string) (string, bool) {
	return ctx.GetConfig(configNamespace + ":" + key)
}

// decodeKey decodes the object at plinko:<key> over dst (which holds the
// defaults), refusing unknown fields so that a typo is an error, not a
// silently ignored setting.
func decodeKey(ctx *pulumi.Context, key string, dst any) (bool, error) {
	raw, ok := get(ctx, key)
	if !ok {
		return false, nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return true, fmt.Errorf("%w: %s:%s: %v", ErrConfig, configNamespace, key, err)
	}
	return true, nil
}

// bad builds a config error naming the key.
func bad(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s:%s: %s", ErrConfig, configNamespace, key, fmt.Sprintf(format, args...))
}

func (c *Config) validate(ctx *pulumi.Context) error {
	if !dnsLabel(c.Namespace) {
		return bad("namespace", "must be a DNS label (lower-case letters, digits, '-'), got %q", c.Namespace)
	}
	switch {
	case c.Cluster == nil && c.Existing == nil:
		return bad("cluster", "set either plinko:cluster (create a VKE cluster) or plinko:existingCluster (deploy to a cluster that exists)")
	case c.Cluster != nil && c.Existing != nil:
		return bad("existingCluster", "plinko:cluster and plinko:existingCluster are exclusive; keep one")
	case c.Cluster != nil:
		if err := c.validateCluster(ctx); err != nil {
			return err
		}
	default:
		if c.Existing.Image == "" {
			return bad("existingCluster.image", "is required: the runtime image to run, e.g. ewr.vultrcr.com/plinko/plinko@sha256:...")
		}
		if c.Existing.ImagePullSecret != "" && !dnsSubdomain(c.Existing.ImagePullSecret) {
			return bad("existingCluster.imagePullSecret", "must be a Kubernetes object name, got %q", c.Existing.ImagePullSecret)
		}
	}
	for _, v := range []struct {
		key string
		vol VolumeConfig
	}{{"storage.data", c.Storage.Data}, {"storage.chain", c.Storage.Chain}} {
		if v.vol.Class == "" {
			return bad(v.key+".class", "is required (a storage class, e.g. vultr-block-storage)")
		}
		if v.vol.SizeGb < 1 {
			return bad(v.key+".sizeGb", "must be at least 1, got %d", v.vol.SizeGb)
		}
		switch v.vol.AccessMode {
		case "ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod":
		default:
			return bad(v.key+".accessMode", "must be ReadWriteOnce, ReadWriteMany or ReadWriteOncePod, got %q", v.vol.AccessMode)
		}
	}
	if strings.HasPrefix(c.Storage.Data.Class, "vultr-block-storage") && c.Storage.Data.AccessMode != "ReadWriteOnce" {
		return bad("storage.data.accessMode", "%s is block storage, ReadWriteOnce only; use vultr-vfs-storage for ReadWriteMany", c.Storage.Data.Class)
	}
	if c.Devnet.Accounts < 1 {
		return bad("devnet.accounts", "must be at least 1, got %d", c.Devnet.Accounts)
	}
	if d, err := time.ParseDuration(c.Devnet.BlockTime); err != nil || d <= 0 {
		return bad("devnet.blockTime", "must be a positive duration such as 12s, got %q", c.Devnet.BlockTime)
	}
	if c.Pipeline.DeadlineSeconds < 60 {
		return bad("pipeline.deadlineSeconds", "must be at least 60, got %d", c.Pipeline.DeadlineSeconds)
	}
	if c.Pipeline.BackoffLimit < 0 {
		return bad("pipeline.backoffLimit", "must not be negative, got %d", c.Pipeline.BackoffLimit)
	}
	for _, b := range []struct {
		key string
		b   Bounds
	}{{"scaling.pirServer", c.Scaling.PirServer}, {"scaling.cdn", c.Scaling.Cdn}, {"scaling.wallet", c.Scaling.Wallet}} {
		if b.b.Min < 1 || b.b.Max < b.b.Min {
			return bad(b.key, "needs 1 <= min <= max, got min %d max %d", b.b.Min, b.b.Max)
		}
	}
	if p := c.Scaling.CPUPercent; p < 1 || p > 100 {
		return bad("scaling.cpuPercent", "must be 1..100, got %d", p)
	}
	if p := c.Scaling.MemoryPercent; p < 1 || p > 100 {
		return bad("scaling.memoryPercent", "must be 1..100, got %d", p)
	}
	return c.validateIngress()
}

func (c *Config) validateCluster(ctx *pulumi.Context) error {
	cl := c.Cluster
	switch {
	case cl.Region == "":
		return bad("cluster.region", "is required (a Vultr region id, e.g. ewr)")
	case cl.Version == "":
		return bad("cluster.version", "is required (a VKE version, e.g. v1.33.0+1)")
	case cl.Label == "":
		return bad("cluster.label", "is required")
	}
	pools := append([]NodePoolConfig{cl.NodePool}, cl.ExtraNodePools...)
	for i, p := range pools {
		key := "cluster.nodePool"
		if i > 0 {
			key = fmt.Sprintf("cluster.extraNodePools[%d]", i-1)
		}
		switch {
		case p.Label == "":
			return bad(key+".label", "is required")
		case !strings.HasPrefix(p.Plan, "v") || strings.Count(p.Plan, "-") < 2:
			return bad(key+".plan", "must be a Vultr plan id such as vc2-2c-4gb, got %q", p.Plan)
		case p.Nodes < 1:
			return bad(key+".nodes", "must be at least 1, got %d", p.Nodes)
		case p.Autoscale != nil && (p.Autoscale.Min < 1 || p.Autoscale.Max < p.Autoscale.Min):
			return bad(key+".autoscale", "needs 1 <= min <= max, got min %d max %d", p.Autoscale.Min, p.Autoscale.Max)
		case p.Autoscale != nil && (p.Nodes < p.Autoscale.Min || p.Nodes > p.Autoscale.Max):
			return bad(key+".nodes", "%d is outside autoscale bounds %d..%d", p.Nodes, p.Autoscale.Min, p.Autoscale.Max)
		}
	}
	if !vultr.ValidRegistryName(c.Registry.Name) {
		return bad("registry.name", "must be 1-32 lower-case letters or digits, got %q", c.Registry.Name)
	}
	if c.Registry.Plan == "" {
		return bad("registry.plan", "is required (e.g. start_up)")
	}
	if c.Build.Context == "" || c.Build.Dockerfile == "" || c.Build.Platform == "" {
		return bad("build", "context, dockerfile and platform must not be empty")
	}
	// The API key is a credential: plain text in the stack file would be
	// committed. The provider also reads VULTR_API_KEY from the environment.
	const apiKey = "vultr:apiKey"
	if _, ok := ctx.GetConfig(apiKey); ok && !ctx.IsConfigSecret(apiKey) {
		return fmt.Errorf("%w: %s is set in plain text; remove it and run `pulumi config set --secret %s <key>`", ErrConfig, apiKey, apiKey)
	}
	return nil
}

func (c *Config) validateIngress() error {
	in := c.Ingress
	if !dnsSubdomain(in.ClassName) {
		return bad("ingress.className", "must be an ingress class name, got %q", in.ClassName)
	}
	if !dnsLabel(in.ControllerNamespace) {
		return bad("ingress.controllerNamespace", "must be a DNS label, got %q", in.ControllerNamespace)
	}
	if in.InstallController && in.ControllerReplicas < 1 {
		return bad("ingress.controllerReplicas", "must be at least 1, got %d", in.ControllerReplicas)
	}
	hosts := map[string]string{"wallet": in.Hosts.Wallet, "api": in.Hosts.API, "cdn": in.Hosts.Cdn}
	set := 0
	for name, h := range hosts {
		if h == "" {
			continue
		}
		set++
		if !dnsSubdomain(h) || !strings.Contains(h, ".") {
			return bad("ingress.hosts."+name, "must be a fully qualified host name, got %q", h)
		}
	}
	if set != 0 && set != len(hosts) {
		return bad("ingress.hosts", "set all of wallet, api and cdn, or none (one host-less ingress on the load balancer IP)")
	}
	if in.TLS.Enabled {
		if set == 0 {
			return bad("ingress.tls.enabled", "TLS needs ingress.hosts (certificates are issued for host names)")
		}
		if !dnsSubdomain(in.TLS.Issuer) {
			return bad("ingress.tls.issuer", "must be a ClusterIssuer name, got %q", in.TLS.Issuer)
		}
		if in.TLS.InstallCertManager && !strings.Contains(in.TLS.Email, "@") {
			return bad("ingress.tls.email", "an ACME account e-mail is required to create the issuer, got %q", in.TLS.Email)
		}
		if in.TLS.InstallCertManager && !strings.HasPrefix(in.TLS.AcmeServer, "https://") {
			return bad("ingress.tls.acmeServer", "must be an https URL, got %q", in.TLS.AcmeServer)
		}
	}
	lb := in.LoadBalancer
	if lb.NodeCount < 1 || lb.NodeCount%2 == 0 {
		return bad("ingress.loadBalancer.nodeCount", "Vultr load balancers take an odd node count >= 1, got %d", lb.NodeCount)
	}
	if lb.Algorithm != "roundrobin" && lb.Algorithm != "least_connections" {
		return bad("ingress.loadBalancer.algorithm", "must be roundrobin or least_connections, got %q", lb.Algorithm)
	}
	if c.Monitoring.Enabled && !dnsLabel(c.Monitoring.Namespace) {
		return bad("monitoring.namespace", "must be a DNS label, got %q", c.Monitoring.Namespace)
	}
	if c.Monitoring.Enabled && !dnsLabel(c.Monitoring.Release) {
		return bad("monitoring.release", "must be a DNS label, got %q", c.Monitoring.Release)
	}
	if u := c.Monitoring.RunbookURL; u != "" && !(strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) || strings.Contains(u, "#") {
		return bad("monitoring.runbookUrl", "must be an http(s) URL without a #fragment (each alert appends its own), got %q", u)
	}
	return nil
}

// dnsLabel reports whether s is an RFC 1123 label (namespace names).
func dnsLabel(s string) bool {
	if len(s) < 1 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// dnsSubdomain reports whether s is an RFC 1123 subdomain (object and host names).
func dnsSubdomain(s string) bool {
	if len(s) < 1 || len(s) > 253 {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if !dnsLabel(part) {
			return false
		}
	}
	return true
}
