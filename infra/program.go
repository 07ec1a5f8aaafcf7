// Package infra is the Pulumi program that stands Plinko PIR up on Vultr
// Kubernetes (VKE): cluster, registry, the runtime image, and one component
// per service. Program is the entry point for `pulumi up` (main.go at the
// top of the repository) and for the Automation API; Deploy returns the
// graph's handles for tests. All stack differences come from config
// (LoadConfig); nothing here looks at the stack's name.
package infra

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Deployment is the whole graph, as tests and the Automation API see it.
type Deployment struct {
	Config   *Config
	Platform *Platform
	Services map[string]*Service
	Pipeline *Pipeline
	Ingress  *Ingress
	Addons   *Addons
	// Monitoring is nil unless plinko:monitoring.enabled.
	Monitoring *Monitoring
	// Outputs are the stack outputs Program exports.
	Outputs pulumi.Map
}

// Program is the Pulumi program: pulumi.Run(infra.Program).
func Program(ctx *pulumi.Context) error {
	d, err := Deploy(ctx)
	if err != nil {
		return err
	}
	for k, v := range d.Outputs {
		ctx.Export(k, v)
	}
	return nil
}

// Deploy builds the whole graph from the stack's config.
func Deploy(ctx *pulumi.Context) (*Deployment, error) {
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return nil, err
	}
	d := &Deployment{Config: cfg, Services: map[string]*Service{}}
	if d.Platform, err = newPlatform(ctx, cfg); err != nil {
		return nil, err
	}
	plat := d.Platform
	k8s := pulumi.Providers(plat.Provider)

	p := policy{namespace: cfg.Namespace, image: plat.Image, instance: cfg.Namespace}
	if plat.PullSecretName != "" {
		p.pullSecrets = []string{plat.PullSecretName}
	}

	ns, err := newNamespace(ctx, cfg, plat, k8s)
	if err != nil {
		return nil, err
	}
	// Everything in the namespace starts after it (and its pull secret).
	// Dependencies name the custom resources themselves: a component's
	// children may still be registering when a dependent is created.
	after := func(rs ...pulumi.Resource) []pulumi.Resource {
		return append(ns.resources(), rs...)
	}
	if _, err := newNetwork(ctx, cfg, p, after(), k8s); err != nil {
		return nil, err
	}
	storage, err := newStorage(ctx, cfg, p, after(), k8s)
	if err != nil {
		return nil, err
	}

	single := serviceOptions{}
	scaled := func(b Bounds) serviceOptions {
		return serviceOptions{Scaling: b, CPUPercent: cfg.Scaling.CPUPercent, MemoryPercent: cfg.Scaling.MemoryPercent}
	}
	devnet, err := newService(ctx, "Devnet", devnetWorkload(cfg), single, p, after(storage.resources()...), k8s)
	if err != nil {
		return nil, err
	}
	d.Services["devnet"] = devnet
	if d.Pipeline, err = newPipeline(ctx, cfg, p, after(append(storage.resources(), devnet.resources()...)...), k8s); err != nil {
		return nil, err
	}
	bootstrap := d.Pipeline.HintGen
	if d.Services["updater"], err = newService(ctx, "Updater", updaterWorkload(cfg), single, p, after(append(storage.resources(), bootstrap)...), k8s); err != nil {
		return nil, err
	}
	cdn, err := newService(ctx, "Cdn", cdnWorkload(), scaled(cfg.Scaling.Cdn), p, after(append(storage.resources(), bootstrap)...), k8s)
	if err != nil {
		return nil, err
	}
	d.Services["cdn"] = cdn
	if d.Services["pir-server"], err = newService(ctx, "PirServer", pirServerWorkload(), scaled(cfg.Scaling.PirServer), p, after(cdn.resources()...), k8s); err != nil {
		return nil, err
	}
	if d.Services["wallet"], err = newService(ctx, "Wallet", walletWorkload(cfg.publicURLs()), scaled(cfg.Scaling.Wallet), p, after(), k8s); err != nil {
		return nil, err
	}

	if d.Addons, err = newAddons(ctx, cfg, k8s); err != nil {
		return nil, err
	}
	// The Ingress objects wait for the controller (its admission webhook),
	// the issuer, and the Services they route to.
	ingressDeps := d.Addons.ingressDeps()
	for _, name := range []string{"wallet", "pir-server", "cdn"} {
		ingressDeps = append(ingressDeps, d.Services[name].Service)
	}
	if d.Ingress, err = newIngress(ctx, cfg, p, after(ingressDeps...), k8s); err != nil {
		return nil, err
	}
	if cfg.Monitoring.Enabled {
		var deps []pulumi.Resource
		if d.Addons.PromStack != nil {
			deps = append(deps, d.Addons.PromStack)
		}
		if d.Monitoring, err = newMonitoring(ctx, cfg, p, after(deps...), k8s); err != nil {
			return nil, err
		}
	}

	u := d.Ingress.URLs
	lb := d.Ingress.LoadBalancerIP
	d.Outputs = pulumi.Map{
		"walletUrl":      absolute(u.Wallet, lb),
		"apiUrl":         absolute(u.API, lb),
		"cdnUrl":         absolute(u.Cdn, lb),
		"loadBalancerIp": lb,
		"kubeconfig":     plat.Kubeconfig,
		"registryUrl":    plat.RegistryURL,
		"image":          plat.Image,
		"namespace":      pulumi.String(cfg.Namespace),
	}
	return d, nil
}

// Namespace is the component of the namespace and its image pull secret.
type Namespace struct {
	pulumi.ResourceState

	Namespace  *corev1.Namespace
	PullSecret *corev1.Secret
}

func newNamespace(ctx *pulumi.Context, c *Config, plat *Platform, opts ...pulumi.ResourceOption) (*Namespace, error) {
	n := &Namespace{}
	if err := ctx.RegisterComponentResource("plinko:infra:Namespace", c.Namespace, n, opts...); err != nil {
		return nil, fmt.Errorf("registering namespace component: %w", err)
	}
	// Pod Security Admission at "restricted" (the successor of the seed's
	// pod security policies): enforced, and audited and warned about too.
	psa := pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String(partOf)}
	for _, mode := range []string{"enforce", "audit", "warn"} {
		psa["pod-security.kubernetes.io/"+mode] = pulumi.String("restricted")
		psa["pod-security.kubernetes.io/"+mode+"-version"] = pulumi.String("latest")
	}
	var err error
	if n.Namespace, err = corev1.NewNamespace(ctx, c.Namespace, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(c.Namespace), Labels: psa},
	}, pulumi.Parent(n)); err != nil {
		return nil, fmt.Errorf("creating namespace: %w", err)
	}
	if plat.HasPullSecret {
		if n.PullSecret, err = corev1.NewSecret(ctx, pullSecretName, &corev1.SecretArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(pullSecretName), Namespace: pulumi.String(c.Namespace)},
			Type:     pulumi.String("kubernetes.io/dockerconfigjson"),
			StringData: pulumi.StringMap{
				".dockerconfigjson": plat.DockerConfigJSON,
			},
		}, pulumi.Parent(n), pulumi.DependsOn([]pulumi.Resource{n.Namespace})); err != nil {
			return nil, fmt.Errorf("creating image pull secret: %w", err)
		}
	}
	return n, ctx.RegisterResourceOutputs(n, pulumi.Map{"name": n.Namespace.Metadata.Name()})
}

func (n *Namespace) resources() []pulumi.Resource {
	rs := []pulumi.Resource{n.Namespace}
	if n.PullSecret != nil {
		rs = append(rs, n.PullSecret)
	}
	return rs
}

// Network is the component of the namespace's NetworkPolicies.
type Network struct {
	pulumi.ResourceState
}

func newNetwork(ctx *pulumi.Context, c *Config, p policy, deps []pulumi.Resource, opts ...pulumi.ResourceOption) (*Network, error) {
	n := &Network{}
	if err := ctx.RegisterComponentResource("plinko:infra:Network", "network", n, opts...); err != nil {
		return nil, fmt.Errorf("registering network component: %w", err)
	}
	if err := p.networkPolicies(ctx, c.Flows(), n, pulumi.DependsOn(deps)); err != nil {
		return nil, err
	}
	return n, ctx.RegisterResourceOutputs(n, pulumi.Map{})
}

// Storage is the component of the two volumes: the shared data (database,
// snapshot, manifest, deltas), written by db-gen, hint-gen and the updater
// and read by every cdn replica; and the chain's own data, used by devnet
// alone. See infra/README.md for why the data volume is ReadWriteMany.
type Storage struct {
	pulumi.ResourceState

	Data  *corev1.PersistentVolumeClaim
	Chain *corev1.PersistentVolumeClaim
}

func newStorage(ctx *pulumi.Context, c *Config, p policy, deps []pulumi.Resource, opts ...pulumi.ResourceOption) (*Storage, error) {
	s := &Storage{}
	if err := ctx.RegisterComponentResource("plinko:infra:Storage", "storage", s, opts...); err != nil {
		return nil, fmt.Errorf("registering storage component: %w", err)
	}
	claim := func(name, component string, v VolumeConfig) (*corev1.PersistentVolumeClaim, error) {
		meta := p.meta(Workload{Name: name, Component: component})
		// Pods wait for their volume; the claim itself need not be awaited
		// (classes that bind on first consumer would never finish).
		meta.Annotations = pulumi.StringMap{"pulumi.com/skipAwait": pulumi.String("true")}
		pvc, err := corev1.NewPersistentVolumeClaim(ctx, name, &corev1.PersistentVolumeClaimArgs{
			Metadata: meta,
			Spec: &corev1.PersistentVolumeClaimSpecArgs{
				AccessModes:      pulumi.StringArray{pulumi.String(v.AccessMode)},
				StorageClassName: pulumi.String(v.Class),
				Resources: &corev1.VolumeResourceRequirementsArgs{
					Requests: pulumi.StringMap{"storage": pulumi.Sprintf("%dGi", v.SizeGb)},
				},
			},
		}, pulumi.Parent(s), pulumi.DependsOn(deps))
		if err != nil {
			return nil, fmt.Errorf("creating volume claim %s: %w", name, err)
		}
		return pvc, nil
	}
	var err error
	if s.Data, err = claim(dataClaim, "storage", c.Storage.Data); err != nil {
		return nil, err
	}
	if s.Chain, err = claim(chainClaim, "chain", c.Storage.Chain); err != nil {
		return nil, err
	}
	return s, ctx.RegisterResourceOutputs(s, pulumi.Map{})
}

func (s *Storage) resources() []pulumi.Resource { return []pulumi.Resource{s.Data, s.Chain} }

func newPipeline(ctx *pulumi.Context, c *Config, p policy, deps []pulumi.Resource, opts ...pulumi.ResourceOption) (*Pipeline, error) {
	pl := &Pipeline{}
	if err := ctx.RegisterComponentResource("plinko:infra:Pipeline", "pipeline", pl, opts...); err != nil {
		return nil, fmt.Errorf("registering pipeline component: %w", err)
	}
	timeout := pulumi.Timeouts(&pulumi.CustomTimeouts{
		Create: fmt.Sprintf("%ds", c.Pipeline.DeadlineSeconds+300),
		Update: fmt.Sprintf("%ds", c.Pipeline.DeadlineSeconds+300),
	})
	var err error
	if pl.DbGen, err = p.newJob(ctx, dbGenWorkload(), c.Pipeline, pulumi.Parent(pl), timeout, pulumi.DependsOn(deps)); err != nil {
		return nil, err
	}
	// hint-gen reads what db-gen wrote: it starts only once db-gen completed.
	if pl.HintGen, err = p.newJob(ctx, hintGenWorkload(), c.Pipeline, pulumi.Parent(pl), timeout,
		pulumi.DependsOn(append(deps, pl.DbGen))); err != nil {
		return nil, err
	}
	return pl, ctx.RegisterResourceOutputs(pl, pulumi.Map{})
}
