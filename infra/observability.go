package infra

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinko-pir/plinko/infra/monitoring"
)

// Monitoring is the component of what kube-prometheus-stack reads: a
// ServiceMonitor per service with /metrics, the PrometheusRule with the
// alerts of infra/monitoring, and the Grafana dashboard as a ConfigMap.
type Monitoring struct {
	pulumi.ResourceState

	ServiceMonitors map[string]*apiextensions.CustomResource
	Rules           *apiextensions.CustomResource
	Dashboard       *corev1.ConfigMap
}

// Names of the alerting and dashboard objects.
const (
	alertRulesName = "plinko-alerts"
	dashboardName  = "plinko-dashboard"
)

func (c *Config) alertOptions() monitoring.Options {
	return monitoring.Options{Namespace: c.Namespace, RunbookURL: c.Monitoring.RunbookURL}
}

func newMonitoring(ctx *pulumi.Context, c *Config, p policy, deps []pulumi.Resource, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	m := &Monitoring{ServiceMonitors: map[string]*apiextensions.CustomResource{}}
	if err := ctx.RegisterComponentResource("plinko:infra:Monitoring", "monitoring", m, opts...); err != nil {
		return nil, fmt.Errorf("registering monitoring component: %w", err)
	}
	child := []pulumi.ResourceOption{pulumi.Parent(m), pulumi.DependsOn(deps)}
	// kube-prometheus-stack selects ServiceMonitors and PrometheusRules by
	// its release label, in every namespace.
	meta := func(name string) *metav1.ObjectMetaArgs {
		md := p.meta(Workload{Name: name, Component: "monitoring"})
		md.Labels = pulumi.StringMap{
			"app.kubernetes.io/part-of": pulumi.String(partOf),
			"release":                   pulumi.String(c.Monitoring.Release),
		}
		return md
	}
	for _, s := range scrapedWorkloads {
		sm, err := apiextensions.NewCustomResource(ctx, s.Name, &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
			Kind:       pulumi.String("ServiceMonitor"),
			Metadata:   meta(s.Name),
			OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
				"selector": pulumi.Map{"matchLabels": p.selector(Workload{Name: s.Name})},
				"endpoints": pulumi.Array{pulumi.Map{
					"port": pulumi.String(s.Port), "path": pulumi.String("/metrics"), "interval": pulumi.String("30s"),
				}},
			}},
		}, child...)
		if err != nil {
			return nil, fmt.Errorf("creating service monitor %s: %w", s.Name, err)
		}
		m.ServiceMonitors[s.Name] = sm
	}
	var err error
	if m.Rules, err = apiextensions.NewCustomResource(ctx, alertRulesName, &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String("monitoring.coreos.com/v1"),
		Kind:        pulumi.String("PrometheusRule"),
		Metadata:    meta(alertRulesName),
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{"groups": ruleGroups(c.alertOptions())}},
	}, child...); err != nil {
		return nil, fmt.Errorf("creating prometheus rule %s: %w", alertRulesName, err)
	}
	// The Grafana sidecar of kube-prometheus-stack loads ConfigMaps labelled
	// grafana_dashboard=1 from Grafana's own namespace.
	dash, err := monitoring.Dashboard(c.Namespace)
	if err != nil {
		return nil, err
	}
	if m.Dashboard, err = corev1.NewConfigMap(ctx, dashboardName, &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(dashboardName),
			Namespace: pulumi.String(c.Monitoring.Namespace),
			Labels: pulumi.StringMap{
				"app.kubernetes.io/part-of": pulumi.String(partOf),
				"grafana_dashboard":         pulumi.String("1"),
			},
		},
		Data: pulumi.StringMap{"plinko.json": pulumi.String(string(dash))},
	}, child...); err != nil {
		return nil, fmt.Errorf("creating dashboard config map: %w", err)
	}
	return m, ctx.RegisterResourceOutputs(m, pulumi.Map{})
}

// ruleGroups is infra/monitoring's rule groups as a PrometheusRule spec.
func ruleGroups(o monitoring.Options) pulumi.Array {
	var groups pulumi.Array
	for _, g := range monitoring.Groups(o) {
		var rules pulumi.Array
		for _, r := range g.Rules {
			rule := pulumi.Map{
				"alert":       pulumi.String(r.Alert),
				"expr":        pulumi.String(r.Expr),
				"labels":      pulumi.ToStringMap(r.Labels),
				"annotations": pulumi.ToStringMap(r.Annotations),
			}
			if r.For != "" {
				rule["for"] = pulumi.String(r.For)
			}
			rules = append(rules, rule)
		}
		groups = append(groups, pulumi.Map{"name": pulumi.String(g.Name), "rules": rules})
	}
	return groups
}
