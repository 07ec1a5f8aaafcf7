package infra

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinko-pir/plinko/infra/vultr"
)

// Platform is what the workloads run on: a Kubernetes provider, the runtime
// image and how to pull it. Either made here on Vultr (cluster, registry,
// image build) or taken from config for a cluster that exists.
type Platform struct {
	Provider *kubernetes.Provider
	// Image is the runtime image reference every workload runs.
	Image pulumi.StringOutput
	// Kubeconfig of the cluster (secret); empty with the ambient kubeconfig.
	Kubeconfig pulumi.StringOutput
	// RegistryURL is where images are pushed ("" for an existing cluster).
	RegistryURL pulumi.StringOutput
	// DockerConfigJSON, when set, becomes the namespace's image pull secret.
	DockerConfigJSON pulumi.StringOutput
	HasPullSecret    bool
	// PullSecretName names the pull secret pods reference ("" for none).
	PullSecretName string

	Cluster  *vultr.Kubernetes
	Pools    []*vultr.KubernetesNodePools
	Registry *vultr.ContainerRegistry
	Built    *docker.Image
}

// pullSecretName is the image pull secret the program creates.
const pullSecretName = "registry-credentials"

// newPlatform builds the cluster side of the stack from config.
func newPlatform(ctx *pulumi.Context, c *Config) (*Platform, error) {
	if c.Existing != nil {
		return existingPlatform(ctx, c)
	}
	return vultrPlatform(ctx, c)
}

func existingPlatform(ctx *pulumi.Context, c *Config) (*Platform, error) {
	args := &kubernetes.ProviderArgs{
		EnableServerSideApply: pulumi.BoolPtr(true),
	}
	p := &Platform{
		Image:          pulumi.String(c.Existing.Image).ToStringOutput(),
		RegistryURL:    pulumi.String("").ToStringOutput(),
		Kubeconfig:     pulumi.ToSecret(pulumi.String("")).(pulumi.StringOutput),
		PullSecretName: c.Existing.ImagePullSecret,
	}
	if c.HasKubeconfig {
		args.Kubeconfig = c.Kubeconfig
		p.Kubeconfig = c.Kubeconfig
	}
	if c.Existing.RenderDir != "" {
		args.RenderYamlToDirectory = pulumi.StringPtr(c.Existing.RenderDir)
	}
	prov, err := kubernetes.NewProvider(ctx, "kubernetes", args)
	if err != nil {
		return nil, fmt.Errorf("creating kubernetes provider: %w", err)
	}
	p.Provider = prov
	return p, nil
}

func nodePool(p NodePoolConfig) vultr.NodePool {
	np := vultr.NodePool{Label: p.Label, Plan: p.Plan, NodeQuantity: p.Nodes}
	if p.Autoscale != nil {
		np.AutoScaler, np.MinNodes, np.MaxNodes = true, p.Autoscale.Min, p.Autoscale.Max
	}
	return np
}

func vultrPlatform(ctx *pulumi.Context, c *Config) (*Platform, error) {
	cl := c.Cluster
	cluster, err := vultr.NewKubernetes(ctx, "cluster", vultr.KubernetesArgs{
		Label:           cl.Label,
		Region:          cl.Region,
		Version:         cl.Version,
		NodePools:       nodePool(cl.NodePool),
		HaControlplanes: cl.HAControlPlanes,
		EnableFirewall:  cl.EnableFirewall,
	})
	if err != nil {
		return nil, err
	}
	p := &Platform{Cluster: cluster, PullSecretName: pullSecretName, HasPullSecret: true}
	for _, extra := range cl.ExtraNodePools {
		pool, err := vultr.NewKubernetesNodePools(ctx, "pool-"+extra.Label, cluster.ID().ToStringOutput(), nodePool(extra),
			pulumi.Parent(cluster))
		if err != nil {
			return nil, err
		}
		p.Pools = append(p.Pools, pool)
	}

	// VKE hands out the kubeconfig base64-encoded.
	p.Kubeconfig = pulumi.ToSecret(cluster.KubeConfig.ApplyT(func(b64 string) (string, error) {
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return "", fmt.Errorf("decoding the cluster's kubeconfig: %w", err)
		}
		return string(raw), nil
	})).(pulumi.StringOutput)
	prov, err := kubernetes.NewProvider(ctx, "kubernetes", &kubernetes.ProviderArgs{
		Kubeconfig:            p.Kubeconfig,
		EnableServerSideApply: pulumi.BoolPtr(true),
		// A destroyed cluster takes its objects with it.
		DeleteUnreachable: pulumi.BoolPtr(true),
	}, pulumi.DependsOn(poolsOf(p)))
	if err != nil {
		return nil, fmt.Errorf("creating kubernetes provider: %w", err)
	}
	p.Provider = prov

	reg, err := vultr.NewContainerRegistry(ctx, "registry", vultr.ContainerRegistryArgs{
		Name: c.Registry.Name, Plan: c.Registry.Plan, Public: c.Registry.Public, Region: cl.Region,
	})
	if err != nil {
		return nil, err
	}
	p.Registry = reg
	host := vultr.RegistryHost(cl.Region)
	p.RegistryURL = pulumi.String(vultr.RegistryURL(cl.Region, c.Registry.Name)).ToStringOutput()
	user := reg.RootUser.MapIndex(pulumi.String("username"))
	pass := pulumi.ToSecret(reg.RootUser.MapIndex(pulumi.String("password"))).(pulumi.StringOutput)

	tag := c.Build.Tag
	if tag == "" {
		tag = ctx.Stack()
	}
	img, err := docker.NewImage(ctx, "plinko", &docker.ImageArgs{
		ImageName: pulumi.Sprintf("%s/plinko:%s", p.RegistryURL, tag),
		Build: &docker.DockerBuildArgs{
			Context:    pulumi.String(c.Build.Context),
			Dockerfile: pulumi.String(c.Build.Dockerfile),
			Platform:   pulumi.String(c.Build.Platform),
		},
		Registry: &docker.RegistryArgs{
			Server:   pulumi.String(host),
			Username: user,
			Password: pass,
		},
	}, pulumi.DependsOn([]pulumi.Resource{reg}))
	if err != nil {
		return nil, fmt.Errorf("building the runtime image: %w", err)
	}
	p.Built = img
	// Pods run the pushed digest, so every build rolls them and no two
	// components can run different builds.
	p.Image = img.RepoDigest

	p.DockerConfigJSON = pulumi.ToSecret(pulumi.All(user, pass).ApplyT(func(v []any) (string, error) {
		return dockerConfigJSON(host, v[0].(string), v[1].(string))
	})).(pulumi.StringOutput)
	return p, nil
}

func poolsOf(p *Platform) []pulumi.Resource {
	rs := []pulumi.Resource{p.Cluster}
	for _, pool := range p.Pools {
		rs = append(rs, pool)
	}
	return rs
}

// dockerConfigJSON is the body of a kubernetes.io/dockerconfigjson secret.
func dockerConfigJSON(server, user, password string) (string, error) {
	type auth struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Auth     string `json:"auth"`
	}
	b, err := json.Marshal(map[string]map[string]auth{"auths": {server: {
		Username: user, Password: password,
		Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + password)),
	}}})
	if err != nil {
		return "", fmt.Errorf("encoding registry credentials: %w", err)
	}
	return string(b), nil
}
