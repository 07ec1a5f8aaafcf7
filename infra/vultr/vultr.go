// Package vultr binds the few resources of the Vultr Pulumi provider (the
// bridged Terraform provider published by dirien) that the infra program
// uses. The provider's Go SDK is not available here, and a generated SDK is
// only typed structs around ctx.RegisterResource, so this package is that
// layer, written by hand: the exact tokens and property names of the provider
// schema, typed arguments validated before registration, and the plugin's
// download URL and pinned version set on every resource so that `pulumi up`
// fetches the right plugin.
//
// Provider configuration lives in the `vultr:` config namespace: apiKey (set
// it with `pulumi config set --secret vultr:apiKey <key>`; the provider also
// reads VULTR_API_KEY), rateLimit, retryLimit.
package vultr

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const (
	// PluginDownloadURL is where the Pulumi engine fetches the provider plugin.
	PluginDownloadURL = "github://api.github.com/dirien/pulumi-vultr"
	// PluginVersion pins a released 2.x version of the provider plugin.
	PluginVersion = "2.26.1"

	// Resource type tokens of the provider schema.
	KubernetesToken          = "vultr:index/kubernetes:Kubernetes"
	KubernetesNodePoolsToken = "vultr:index/kubernetesNodePools:KubernetesNodePools"
	ContainerRegistryToken   = "vultr:index/containerRegistry:ContainerRegistry"
)

// options puts the plugin's download URL and version before the caller's
// options, so that every Vultr resource resolves to the same pinned plugin.
func options(opts []pulumi.ResourceOption, secrets ...string) []pulumi.ResourceOption {
	all := []pulumi.ResourceOption{
		pulumi.PluginDownloadURL(PluginDownloadURL),
		pulumi.Version(PluginVersion),
	}
	if len(secrets) > 0 {
		all = append(all, pulumi.AdditionalSecretOutputs(secrets))
	}
	return append(all, opts...)
}

// errRequired names a missing required input.
func errRequired(resource, property string) error {
	return fmt.Errorf("vultr %s: %s is required", resource, property)
}

// NodePool is a VKE node pool: the cluster's first pool (Kubernetes.NodePools)
// or the body of a separate KubernetesNodePools resource.
type NodePool struct {
	Label        string            // required
	NodeQuantity int               // required, at least 1
	Plan         string            // required, e.g. "vc2-2c-4gb"
	AutoScaler   bool              // let VKE scale between MinNodes and MaxNodes
	MinNodes     int               // with AutoScaler
	MaxNodes     int               // with AutoScaler
	Tag          string            // optional
	Labels       map[string]string // optional Kubernetes node labels
	Taints       []Taint           // optional
}

// Taint is a Kubernetes taint on every node of a pool.
type Taint struct {
	Key, Value, Effect string
}

func (p NodePool) validate(resource string) error {
	switch {
	case p.Label == "":
		return errRequired(resource, "nodePools.label")
	case p.Plan == "":
		return errRequired(resource, "nodePools.plan")
	case p.NodeQuantity < 1:
		return fmt.Errorf("vultr %s: nodePools.nodeQuantity must be at least 1, got %d", resource, p.NodeQuantity)
	case p.AutoScaler && (p.MinNodes < 1 || p.MaxNodes < p.MinNodes):
		return fmt.Errorf("vultr %s: autoscaling needs 1 <= minNodes <= maxNodes, got %d..%d", resource, p.MinNodes, p.MaxNodes)
	case p.AutoScaler && (p.NodeQuantity < p.MinNodes || p.NodeQuantity > p.MaxNodes):
		return fmt.Errorf("vultr %s: nodeQuantity %d is outside the autoscaling bounds %d..%d", resource, p.NodeQuantity, p.MinNodes, p.MaxNodes)
	}
	return nil
}

// properties are the pool's schema properties (camelCase as in the schema).
func (p NodePool) properties() pulumi.Map {
	m := pulumi.Map{
		"label":        pulumi.String(p.Label),
		"nodeQuantity": pulumi.Int(p.NodeQuantity),
		"plan":         pulumi.String(p.Plan),
	}
	if p.AutoScaler {
		m["autoScaler"] = pulumi.Bool(true)
		m["minNodes"] = pulumi.Int(p.MinNodes)
		m["maxNodes"] = pulumi.Int(p.MaxNodes)
	}
	if p.Tag != "" {
		m["tag"] = pulumi.String(p.Tag)
	}
	if len(p.Labels) > 0 {
		m["labels"] = pulumi.ToStringMap(p.Labels)
	}
	if len(p.Taints) > 0 {
		taints := pulumi.Array{}
		for _, t := range p.Taints {
			taints = append(taints, pulumi.Map{
				"key": pulumi.String(t.Key), "value": pulumi.String(t.Value), "effect": pulumi.String(t.Effect),
			})
		}
		m["taints"] = taints
	}
	return m
}

// Kubernetes is a VKE cluster (token vultr:index/kubernetes:Kubernetes).
type Kubernetes struct {
	pulumi.CustomResourceState

	Label                pulumi.StringOutput `pulumi:"label"`
	Region               pulumi.StringOutput `pulumi:"region"`
	Version              pulumi.StringOutput `pulumi:"version"`
	HaControlplanes      pulumi.BoolOutput   `pulumi:"haControlplanes"`
	NodePools            pulumi.MapOutput    `pulumi:"nodePools"`
	KubeConfig           pulumi.StringOutput `pulumi:"kubeConfig"` // base64 kubeconfig; secret
	Endpoint             pulumi.StringOutput `pulumi:"endpoint"`
	Ip                   pulumi.StringOutput `pulumi:"ip"`
	Status               pulumi.StringOutput `pulumi:"status"`
	ClusterSubnet        pulumi.StringOutput `pulumi:"clusterSubnet"`
	ServiceSubnet        pulumi.StringOutput `pulumi:"serviceSubnet"`
	FirewallGroupId      pulumi.StringOutput `pulumi:"firewallGroupId"`
	ClientCertificate    pulumi.StringOutput `pulumi:"clientCertificate"`
	ClientKey            pulumi.StringOutput `pulumi:"clientKey"` // secret
	ClusterCaCertificate pulumi.StringOutput `pulumi:"clusterCaCertificate"`
	DateCreated          pulumi.StringOutput `pulumi:"dateCreated"`
}

// KubernetesArgs are the inputs of a VKE cluster.
type KubernetesArgs struct {
	Label           string   // required
	Region          string   // required, e.g. "ewr"
	Version         string   // required, e.g. "v1.33.0+1"
	NodePools       NodePool // required: the cluster's first pool
	HaControlplanes bool
	EnableFirewall  bool
	VpcId           pulumi.StringInput // optional
}

// NewKubernetes registers a VKE cluster. kubeConfig and clientKey are secret
// outputs whatever the provider reports.
func NewKubernetes(ctx *pulumi.Context, name string, args KubernetesArgs, opts ...pulumi.ResourceOption) (*Kubernetes, error) {
	const what = "kubernetes"
	switch {
	case args.Label == "":
		return nil, errRequired(what, "label")
	case args.Region == "":
		return nil, errRequired(what, "region")
	case args.Version == "":
		return nil, errRequired(what, "version")
	}
	if err := args.NodePools.validate(what); err != nil {
		return nil, err
	}
	props := pulumi.Map{
		"label":           pulumi.String(args.Label),
		"region":          pulumi.String(args.Region),
		"version":         pulumi.String(args.Version),
		"nodePools":       args.NodePools.properties(),
		"haControlplanes": pulumi.Bool(args.HaControlplanes),
		"enableFirewall":  pulumi.Bool(args.EnableFirewall),
	}
	if args.VpcId != nil {
		props["vpcId"] = args.VpcId
	}
	var res Kubernetes
	if err := ctx.RegisterResource(KubernetesToken, name, props, &res, options(opts, "kubeConfig", "clientKey")...); err != nil {
		return nil, fmt.Errorf("registering vultr kubernetes %s: %w", name, err)
	}
	return &res, nil
}

// KubernetesNodePools is an additional node pool of a VKE cluster (token
// vultr:index/kubernetesNodePools:KubernetesNodePools).
type KubernetesNodePools struct {
	pulumi.CustomResourceState

	ClusterId    pulumi.StringOutput `pulumi:"clusterId"`
	Label        pulumi.StringOutput `pulumi:"label"`
	NodeQuantity pulumi.IntOutput    `pulumi:"nodeQuantity"`
	Plan         pulumi.StringOutput `pulumi:"plan"`
	Nodes        pulumi.ArrayOutput  `pulumi:"nodes"`
	Status       pulumi.StringOutput `pulumi:"status"`
	DateCreated  pulumi.StringOutput `pulumi:"dateCreated"`
	DateUpdated  pulumi.StringOutput `pulumi:"dateUpdated"`
}

// NewKubernetesNodePools registers an additional pool of the cluster clusterID.
func NewKubernetesNodePools(ctx *pulumi.Context, name string, clusterID pulumi.StringInput, pool NodePool, opts ...pulumi.ResourceOption) (*KubernetesNodePools, error) {
	const what = "kubernetesNodePools"
	if clusterID == nil {
		return nil, errRequired(what, "clusterId")
	}
	if err := pool.validate(what); err != nil {
		return nil, err
	}
	props := pool.properties()
	props["clusterId"] = clusterID
	var res KubernetesNodePools
	if err := ctx.RegisterResource(KubernetesNodePoolsToken, name, props, &res, options(opts)...); err != nil {
		return nil, fmt.Errorf("registering vultr node pool %s: %w", name, err)
	}
	return &res, nil
}

// ContainerRegistry is a Vultr Container Registry (token
// vultr:index/containerRegistry:ContainerRegistry). Its host is
// <region>.vultrcr.com and its images live under <host>/<name>/.
type ContainerRegistry struct {
	pulumi.CustomResourceState

	Name                 pulumi.StringOutput    `pulumi:"name"`
	Plan                 pulumi.StringOutput    `pulumi:"plan"`
	Public               pulumi.BoolOutput      `pulumi:"public"`
	Region               pulumi.StringOutput    `pulumi:"region"`
	RootUser             pulumi.StringMapOutput `pulumi:"rootUser"` // credentials (username, password, ...); secret
	ContainerRegistryURN pulumi.StringOutput    `pulumi:"containerRegistryURN"`
	Storage              pulumi.MapOutput       `pulumi:"storage"`
	DateCreated          pulumi.StringOutput    `pulumi:"dateCreated"`
}

// RegistryHost is the host of the registries of a region, for docker login,
// e.g. "ewr.vultrcr.com".
func RegistryHost(region string) string { return region + ".vultrcr.com" }

// RegistryURL is where the images of registry name live, e.g.
// "ewr.vultrcr.com/plinko".
func RegistryURL(region, name string) string { return RegistryHost(region) + "/" + name }

// ContainerRegistryArgs are the inputs of a container registry.
type ContainerRegistryArgs struct {
	Name   string // required: lower-case letters and digits
	Plan   string // required, e.g. "start_up"
	Public bool
	Region string // required
}

// ErrRegistryName is returned for a registry name Vultr would refuse.
var ErrRegistryName = errors.New("vultr containerRegistry: name must be 1-32 lower-case letters or digits")

// NewContainerRegistry registers a registry; rootUser is a secret output.
func NewContainerRegistry(ctx *pulumi.Context, name string, args ContainerRegistryArgs, opts ...pulumi.ResourceOption) (*ContainerRegistry, error) {
	const what = "containerRegistry"
	switch {
	case !ValidRegistryName(args.Name):
		return nil, fmt.Errorf("%w, got %q", ErrRegistryName, args.Name)
	case args.Plan == "":
		return nil, errRequired(what, "plan")
	case args.Region == "":
		return nil, errRequired(what, "region")
	}
	props := pulumi.Map{
		"name":   pulumi.String(args.Name),
		"plan":   pulumi.String(args.Plan),
		"public": pulumi.Bool(args.Public),
		"region": pulumi.String(args.Region),
	}
	var res ContainerRegistry
	if err := ctx.RegisterResource(ContainerRegistryToken, name, props, &res, options(opts, "rootUser")...); err != nil {
		return nil, fmt.Errorf("registering vultr container registry %s: %w", name, err)
	}
	return &res, nil
}

// ValidRegistryName reports whether s is a name Vultr accepts for a
// container registry: 1 to 32 lower-case letters and digits.
func ValidRegistryName(s string) bool {
	if len(s) < 1 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
