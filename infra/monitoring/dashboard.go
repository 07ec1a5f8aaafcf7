package monitoring

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

//go:embed dashboard.json
var dashboardJSON []byte

// DashboardUID is the dashboard's stable uid (links and provisioning).
const DashboardUID = "plinko-slo"

// dashboard is the part of Grafana's model the checks read.
type dashboard struct {
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int      `json:"id"`
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"` // a collapsed row's
}

type target struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

// Dashboard returns the Grafana dashboard JSON for a deployment in
// namespace (the value of its hidden $namespace constant).
func Dashboard(namespace string) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(dashboardJSON, &m); err != nil {
		return nil, fmt.Errorf("monitoring: dashboard.json: %w", err)
	}
	tpl, _ := m["templating"].(map[string]any)
	list, _ := tpl["list"].([]any)
	set := false
	for _, v := range list {
		if v, ok := v.(map[string]any); ok && v["name"] == "namespace" {
			v["query"] = namespace
			v["current"] = map[string]any{"text": namespace, "value": namespace}
			set = true
		}
	}
	if !set {
		return nil, fmt.Errorf("monitoring: dashboard.json has no $namespace variable")
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("monitoring: dashboard: %w", err)
	}
	return b, nil
}

// PanelExpr is one query of the dashboard.
type PanelExpr struct {
	Panel, RefID, Expr string
}

// PanelExprs lists every query of every panel, with the dashboard's
// variables replaced by values Prometheus accepts ($__rate_interval: 5m,
// $namespace: namespace), so that they can be parsed and evaluated. It
// fails on a panel without queries or a query without an expression.
func PanelExprs(namespace string) ([]PanelExpr, error) {
	var d dashboard
	if err := json.Unmarshal(dashboardJSON, &d); err != nil {
		return nil, fmt.Errorf("monitoring: dashboard.json: %w", err)
	}
	if d.UID != DashboardUID {
		return nil, fmt.Errorf("monitoring: dashboard uid %q, want %q", d.UID, DashboardUID)
	}
	var out []PanelExpr
	var walk func([]panel) error
	walk = func(ps []panel) error {
		for _, p := range ps {
			if p.Type == "row" {
				if err := walk(p.Panels); err != nil {
					return err
				}
				continue
			}
			if len(p.Targets) == 0 {
				return fmt.Errorf("monitoring: panel %q has no queries", p.Title)
			}
			for _, t := range p.Targets {
				if t.Expr == "" {
					return fmt.Errorf("monitoring: panel %q query %s has no expr", p.Title, t.RefID)
				}
				out = append(out, PanelExpr{Panel: p.Title, RefID: t.RefID, Expr: expand(t.Expr, namespace)})
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, err
	}
	return out, nil
}

func expand(expr, namespace string) string {
	return strings.NewReplacer("$__rate_interval", "5m", "${namespace}", namespace, "$namespace", namespace).Replace(expr)
}
