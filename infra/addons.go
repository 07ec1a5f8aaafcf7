package infra

import (
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Cluster add-ons installed as Helm releases when config asks for them:
// ingress-nginx behind a Vultr load balancer, cert-manager with an ACME
// ClusterIssuer, and kube-prometheus-stack. Chart versions are pinned here.
const (
	ingressNginxChart   = "ingress-nginx"
	ingressNginxRepo    = "https://kubernetes.github.io/ingress-nginx"
	ingressNginxVersion = "4.12.1"

	certManagerChart   = "cert-manager"
	certManagerRepo    = "https://charts.jetstack.io"
	certManagerVersion = "v1.17.2"

	promStackChart   = "kube-prometheus-stack"
	promStackRepo    = "https://prometheus-community.github.io/helm-charts"
	promStackVersion = "72.6.2"
)

// Addons is the component holding the Helm releases and the issuer.
type Addons struct {
	pulumi.ResourceState

	IngressNginx *helmv3.Release
	CertManager  *helmv3.Release
	Issuer       *apiextensions.CustomResource
	PromStack    *helmv3.Release
}

// LoadBalancerAnnotations are the Vultr CCM annotations on ingress-nginx's
// LoadBalancer Service: they shape the Vultr load balancer in front of it.
// TLS terminates in ingress-nginx (cert-manager's certificates), so the load
// balancer forwards TCP.
func (c *Config) LoadBalancerAnnotations() map[string]string {
	const prefix = "service.beta.kubernetes.io/vultr-loadbalancer-"
	lb := c.Ingress.LoadBalancer
	a := map[string]string{
		prefix + "protocol":             "tcp",
		prefix + "algorithm":            lb.Algorithm,
		prefix + "node-count":           strconv.Itoa(lb.NodeCount),
		prefix + "healthcheck-protocol": "tcp",
		prefix + "label":                c.Namespace + "-ingress",
	}
	if lb.FirewallRules != "" {
		a[prefix+"firewall-rules"] = lb.FirewallRules
	}
	return a
}

func release(ctx *pulumi.Context, name, chart, repo, version, namespace string, values pulumi.Map, opts ...pulumi.ResourceOption) (*helmv3.Release, error) {
	r, err := helmv3.NewRelease(ctx, name, &helmv3.ReleaseArgs{
		Name:            pulumi.String(name),
		Chart:           pulumi.String(chart),
		Version:         pulumi.String(version),
		RepositoryOpts:  &helmv3.RepositoryOptsArgs{Repo: pulumi.String(repo)},
		Namespace:       pulumi.String(namespace),
		CreateNamespace: pulumi.Bool(true),
		Atomic:          pulumi.Bool(true),
		CleanupOnFail:   pulumi.Bool(true),
		MaxHistory:      pulumi.Int(10),
		Timeout:         pulumi.Int(900),
		Values:          values,
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("installing helm release %s: %w", name, err)
	}
	return r, nil
}

func newAddons(ctx *pulumi.Context, c *Config, opts ...pulumi.ResourceOption) (*Addons, error) {
	a := &Addons{}
	if err := ctx.RegisterComponentResource("plinko:infra:Addons", "addons", a, opts...); err != nil {
		return nil, fmt.Errorf("registering add-ons: %w", err)
	}
	child := pulumi.Parent(a)
	var err error
	in := c.Ingress
	if in.InstallController {
		a.IngressNginx, err = release(ctx, "ingress-nginx", ingressNginxChart, ingressNginxRepo, ingressNginxVersion,
			in.ControllerNamespace, pulumi.Map{
				"controller": pulumi.Map{
					"replicaCount": pulumi.Int(in.ControllerReplicas),
					"ingressClass": pulumi.String(in.ClassName),
					"ingressClassResource": pulumi.Map{
						"name": pulumi.String(in.ClassName), "enabled": pulumi.Bool(true), "default": pulumi.Bool(false),
					},
					"service": pulumi.Map{
						"type":        pulumi.String("LoadBalancer"),
						"annotations": pulumi.ToStringMap(c.LoadBalancerAnnotations()),
					},
					"metrics": pulumi.Map{"enabled": pulumi.Bool(c.Monitoring.Enabled)},
				},
			}, child)
		if err != nil {
			return nil, err
		}
	}
	if in.TLS.Enabled && in.TLS.InstallCertManager {
		a.CertManager, err = release(ctx, "cert-manager", certManagerChart, certManagerRepo, certManagerVersion,
			"cert-manager", pulumi.Map{"crds": pulumi.Map{"enabled": pulumi.Bool(true)}}, child)
		if err != nil {
			return nil, err
		}
		a.Issuer, err = apiextensions.NewCustomResource(ctx, "cluster-issuer", &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String("cert-manager.io/v1"),
			Kind:       pulumi.String("ClusterIssuer"),
			Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(in.TLS.Issuer)},
			OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{"acme": pulumi.Map{
				"email":               pulumi.String(in.TLS.Email),
				"server":              pulumi.String(in.TLS.AcmeServer),
				"privateKeySecretRef": pulumi.Map{"name": pulumi.String(in.TLS.Issuer + "-account-key")},
				"solvers": pulumi.Array{pulumi.Map{"http01": pulumi.Map{"ingress": pulumi.Map{
					"ingressClassName": pulumi.String(in.ClassName),
				}}}},
			}}},
		}, child, pulumi.DependsOn([]pulumi.Resource{a.CertManager}))
		if err != nil {
			return nil, fmt.Errorf("creating cluster issuer: %w", err)
		}
	}
	if c.Monitoring.Enabled && c.Monitoring.Install {
		a.PromStack, err = release(ctx, c.Monitoring.Release, promStackChart, promStackRepo, promStackVersion,
			c.Monitoring.Namespace, pulumi.Map{
				// Pick up ServiceMonitors labelled release=<name> in any namespace.
				"prometheus": pulumi.Map{"prometheusSpec": pulumi.Map{
					"serviceMonitorSelectorNilUsesHelmValues": pulumi.Bool(true),
				}},
			}, child)
		if err != nil {
			return nil, err
		}
	}
	return a, ctx.RegisterResourceOutputs(a, pulumi.Map{})
}

// ingressDeps are what Ingress objects wait for: the controller (its
// admission webhook validates them) and the issuer.
func (a *Addons) ingressDeps() []pulumi.Resource {
	var rs []pulumi.Resource
	if a.IngressNginx != nil {
		rs = append(rs, a.IngressNginx)
	}
	if a.Issuer != nil {
		rs = append(rs, a.Issuer)
	}
	return rs
}
