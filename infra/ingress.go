package infra

import (
	"fmt"

	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Ingress is the component with the public entry points. With hosts, each
// public service has its own host; without, one load-balancer IP serves the
// wallet on /, the pir-server on /api and the cdn on /cdn (prefix stripped).
type Ingress struct {
	pulumi.ResourceState

	Ingresses map[string]*networkingv1.Ingress
	// LoadBalancerIP is the address the ingress controller publishes.
	LoadBalancerIP pulumi.StringOutput
	URLs           publicURLs
}

// route is one public service behind the ingress.
type route struct {
	name   string // Service name
	host   string
	prefix string // without hosts: "" (root) or "/api", "/cdn"
}

func (c *Config) routes() []route {
	h := c.Ingress.Hosts
	return []route{
		{"wallet", h.Wallet, ""},
		{"pir-server", h.API, "/api"},
		{"cdn", h.Cdn, "/cdn"},
	}
}

// publicURLs are the browser-facing URLs: absolute with hosts, paths on
// the page's own origin without.
func (c *Config) publicURLs() publicURLs {
	h := c.Ingress.Hosts
	if h.Wallet == "" {
		return publicURLs{Wallet: "/", API: "/api/", Cdn: "/cdn/"}
	}
	scheme := "http"
	if c.Ingress.TLS.Enabled {
		scheme = "https"
	}
	return publicURLs{
		Wallet: scheme + "://" + h.Wallet + "/",
		API:    scheme + "://" + h.API + "/",
		Cdn:    scheme + "://" + h.Cdn + "/",
	}
}

// IngressAnnotations are the annotations of the Ingress of route r.
func (c *Config) ingressAnnotations(r route) map[string]string {
	a := map[string]string{
		// Queries are small; snapshots stream, so never buffer them whole.
		"nginx.ingress.kubernetes.io/proxy-body-size": "1m",
		"nginx.ingress.kubernetes.io/proxy-buffering": "off",
	}
	if r.host == "" && r.prefix != "" {
		a["nginx.ingress.kubernetes.io/use-regex"] = "true"
		a["nginx.ingress.kubernetes.io/rewrite-target"] = "/$2"
	}
	if c.Ingress.TLS.Enabled {
		a["cert-manager.io/cluster-issuer"] = c.Ingress.TLS.Issuer
		a["nginx.ingress.kubernetes.io/ssl-redirect"] = "true"
		a["nginx.ingress.kubernetes.io/force-ssl-redirect"] = "true"
	}
	return a
}

func newIngress(ctx *pulumi.Context, c *Config, p policy, deps []pulumi.Resource, opts ...pulumi.ResourceOption) (*Ingress, error) {
	in := &Ingress{Ingresses: map[string]*networkingv1.Ingress{}, URLs: c.publicURLs()}
	if err := ctx.RegisterComponentResource("plinko:infra:Ingress", "ingress", in, opts...); err != nil {
		return nil, fmt.Errorf("registering ingress: %w", err)
	}
	for _, r := range c.routes() {
		path, pathType := "/", "Prefix"
		if r.host == "" && r.prefix != "" {
			path, pathType = r.prefix+"(/|$)(.*)", "ImplementationSpecific"
		}
		rule := &networkingv1.IngressRuleArgs{Http: &networkingv1.HTTPIngressRuleValueArgs{
			Paths: networkingv1.HTTPIngressPathArray{&networkingv1.HTTPIngressPathArgs{
				Path: pulumi.String(path), PathType: pulumi.String(pathType),
				Backend: &networkingv1.IngressBackendArgs{Service: &networkingv1.IngressServiceBackendArgs{
					Name: pulumi.String(r.name),
					Port: &networkingv1.ServiceBackendPortArgs{Name: pulumi.String("http")},
				}},
			}},
		}}
		spec := &networkingv1.IngressSpecArgs{IngressClassName: pulumi.String(c.Ingress.ClassName)}
		if r.host != "" {
			rule.Host = pulumi.String(r.host)
			if c.Ingress.TLS.Enabled {
				spec.Tls = networkingv1.IngressTLSArray{&networkingv1.IngressTLSArgs{
					Hosts: pulumi.StringArray{pulumi.String(r.host)}, SecretName: pulumi.String(r.name + "-tls"),
				}}
			}
		}
		spec.Rules = networkingv1.IngressRuleArray{rule}
		w := Workload{Name: r.name, Component: "ingress"}
		meta := p.meta(w)
		meta.Annotations = pulumi.ToStringMap(c.ingressAnnotations(r))
		ing, err := networkingv1.NewIngress(ctx, r.name, &networkingv1.IngressArgs{Metadata: meta, Spec: spec},
			pulumi.Parent(in), pulumi.DependsOn(deps), pulumi.DeleteBeforeReplace(true))
		if err != nil {
			return nil, fmt.Errorf("creating ingress %s: %w", r.name, err)
		}
		in.Ingresses[r.name] = ing
	}
	in.LoadBalancerIP = in.Ingresses["wallet"].Status.ApplyT(func(s *networkingv1.IngressStatus) string {
		if s == nil || s.LoadBalancer == nil || len(s.LoadBalancer.Ingress) == 0 {
			return ""
		}
		lb := s.LoadBalancer.Ingress[0]
		if lb.Ip != nil {
			return *lb.Ip
		}
		if lb.Hostname != nil {
			return *lb.Hostname
		}
		return ""
	}).(pulumi.StringOutput)
	return in, ctx.RegisterResourceOutputs(in, pulumi.Map{"loadBalancerIp": in.LoadBalancerIP})
}

// absolute turns a public URL into one a person can open: host-less paths
// are put on the load balancer's address.
func absolute(u string, lbIP pulumi.StringOutput) pulumi.StringOutput {
	if len(u) > 0 && u[0] != '/' {
		return pulumi.String(u).ToStringOutput()
	}
	return lbIP.ApplyT(func(ip string) string {
		if ip == "" {
			return ""
		}
		return "http://" + ip + u
	}).(pulumi.StringOutput)
}
