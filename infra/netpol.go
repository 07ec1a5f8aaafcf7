package infra

import (
	"fmt"
	"sort"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The namespace denies all traffic by default; Flows lists every connection
// the architecture needs, and each workload gets one NetworkPolicy that lets
// exactly its own flows in and out. DNS to kube-dns is the one flow every pod
// has. Kubelet probes come from the node and are not subject to these rules.

// Peer is one end of a flow: a workload of this namespace, or every pod of
// another namespace (the ingress controller, Prometheus).
type Peer struct {
	Workload  string
	Namespace string
	// PodLabels narrows a Namespace peer (or names pods of this namespace
	// that are not workloads of ours, such as cert-manager's solver).
	PodLabels map[string]string
}

func (p Peer) String() string {
	if p.Namespace != "" {
		return "namespace " + p.Namespace
	}
	if p.Workload != "" {
		return p.Workload
	}
	return fmt.Sprint(p.PodLabels)
}

// Flow is one allowed TCP connection.
type Flow struct {
	From, To Peer
	Port     int
	Why      string
}

const (
	rpcPort  = 8545 // devnet JSON-RPC over HTTP
	wsPort   = 8546 // devnet JSON-RPC over WebSocket
	acmePort = 8089 // cert-manager's HTTP-01 solver
)

func wl(name string) Peer { return Peer{Workload: name} }

// Flows is the complete list of connections the deployment needs.
func (c *Config) Flows() []Flow {
	ingress := Peer{Namespace: c.Ingress.ControllerNamespace}
	flows := []Flow{
		{ingress, wl("wallet"), httpPort, "browsers load the wallet page"},
		{ingress, wl("pir-server"), httpPort, "browsers send PIR queries (/api)"},
		{ingress, wl("cdn"), httpPort, "browsers download manifest, snapshot and deltas (/cdn)"},
		{wl("db-gen"), wl("devnet"), rpcPort, "db-gen reads every balance over JSON-RPC"},
		{wl("updater"), wl("devnet"), wsPort, "updater follows new heads and reads balances over WebSocket JSON-RPC"},
		{wl("pir-server"), wl("cdn"), httpPort, "pir-server loads the snapshot and follows deltas from the cdn"},
	}
	if c.Ingress.TLS.Enabled {
		flows = append(flows, Flow{ingress, Peer{PodLabels: map[string]string{"acme.cert-manager.io/http01-solver": "true"}},
			acmePort, "Let's Encrypt validates the HTTP-01 challenge through the ingress"})
	}
	if c.Monitoring.Enabled {
		prom := Peer{Namespace: c.Monitoring.Namespace}
		for _, s := range scrapedWorkloads {
			flows = append(flows, Flow{prom, wl(s.Name), s.Number, "Prometheus scrapes /metrics"})
		}
	}
	return flows
}

func (p policy) peer(x Peer) *networkingv1.NetworkPolicyPeerArgs {
	if x.Namespace != "" {
		peer := &networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: &metav1.LabelSelectorArgs{
			MatchLabels: pulumi.StringMap{"kubernetes.io/metadata.name": pulumi.String(x.Namespace)},
		}}
		if len(x.PodLabels) > 0 {
			peer.PodSelector = &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(x.PodLabels)}
		}
		return peer
	}
	return &networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{MatchLabels: p.peerLabels(x)}}
}

func (p policy) peerLabels(x Peer) pulumi.StringMap {
	if x.Workload != "" {
		return p.selector(Workload{Name: x.Workload})
	}
	return pulumi.ToStringMap(x.PodLabels)
}

func tcp(port int) networkingv1.NetworkPolicyPortArray {
	return networkingv1.NetworkPolicyPortArray{&networkingv1.NetworkPolicyPortArgs{
		Protocol: pulumi.String("TCP"), Port: pulumi.Int(port),
	}}
}

// networkPolicies creates the namespace's default deny, the DNS allowance and
// one policy per local peer with its flows, all children of parent.
func (p policy) networkPolicies(ctx *pulumi.Context, flows []Flow, parent pulumi.Resource, opts ...pulumi.ResourceOption) error {
	opts = append(opts, pulumi.Parent(parent), pulumi.DeleteBeforeReplace(true))
	meta := func(name string) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: pulumi.String(p.namespace),
			Labels: pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String(partOf), "app.kubernetes.io/managed-by": pulumi.String("pulumi")}}
	}
	both := pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")}
	if _, err := networkingv1.NewNetworkPolicy(ctx, "default-deny", &networkingv1.NetworkPolicyArgs{
		Metadata: meta("default-deny"),
		Spec:     &networkingv1.NetworkPolicySpecArgs{PodSelector: &metav1.LabelSelectorArgs{}, PolicyTypes: both},
	}, opts...); err != nil {
		return fmt.Errorf("creating default-deny network policy: %w", err)
	}
	dns := networkingv1.NetworkPolicyPortArray{
		&networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("UDP"), Port: pulumi.Int(53)},
		&networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(53)},
	}
	if _, err := networkingv1.NewNetworkPolicy(ctx, "allow-dns", &networkingv1.NetworkPolicyArgs{
		Metadata: meta("allow-dns"),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Egress")},
			Egress: networkingv1.NetworkPolicyEgressRuleArray{&networkingv1.NetworkPolicyEgressRuleArgs{
				To: networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{
					NamespaceSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"kubernetes.io/metadata.name": pulumi.String("kube-system")}},
					PodSelector:       &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"k8s-app": pulumi.String("kube-dns")}},
				}},
				Ports: dns,
			}},
		},
	}, opts...); err != nil {
		return fmt.Errorf("creating allow-dns network policy: %w", err)
	}

	// Group the flows by the local pods they concern.
	type rules struct {
		peer    Peer
		ingress networkingv1.NetworkPolicyIngressRuleArray
		egress  networkingv1.NetworkPolicyEgressRuleArray
	}
	byName := map[string]*rules{}
	local := func(x Peer) *rules {
		name := x.Workload
		if name == "" {
			name = "acme-http01-solver"
		}
		if byName[name] == nil {
			byName[name] = &rules{peer: x}
		}
		return byName[name]
	}
	for _, f := range flows {
		if f.To.Namespace == "" {
			r := local(f.To)
			r.ingress = append(r.ingress, &networkingv1.NetworkPolicyIngressRuleArgs{
				From: networkingv1.NetworkPolicyPeerArray{p.peer(f.From)}, Ports: tcp(f.Port)})
		}
		if f.From.Namespace == "" {
			r := local(f.From)
			r.egress = append(r.egress, &networkingv1.NetworkPolicyEgressRuleArgs{
				To: networkingv1.NetworkPolicyPeerArray{p.peer(f.To)}, Ports: tcp(f.Port)})
		}
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := byName[name]
		spec := &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: p.peerLabels(r.peer)},
			PolicyTypes: both,
		}
		if len(r.ingress) > 0 {
			spec.Ingress = r.ingress
		}
		if len(r.egress) > 0 {
			spec.Egress = r.egress
		}
		if _, err := networkingv1.NewNetworkPolicy(ctx, "allow-"+name, &networkingv1.NetworkPolicyArgs{
			Metadata: meta("allow-" + name), Spec: spec,
		}, opts...); err != nil {
			return fmt.Errorf("creating network policy for %s: %w", name, err)
		}
	}
	return nil
}
