package monitoring

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`max(a_b) > 5`, []string{"a_b"}},
		{`sum by (le) (rate(x_bucket{code=~"5..", by="on"}[5m]))`, []string{"x_bucket"}},
		{`max(e) - on() group_right() p{pod="x"} > 3`, []string{"e", "p"}},
		{`time() - max(t) > 300 or absent(up{service="u"} == 1)`, []string{"t", "up"}},
		{`a unless on(namespace, job_name) b > 0`, []string{"a", "b"}},
		{`histogram_quantile(0.99, sum without (pod) (rate(h[$__rate_interval]))) > 1e-1`, []string{"h"}},
		{`count_values("v", m) offset 5m`, []string{"m"}},
		{`sum(rate(c[5m:1m]))`, []string{"c"}},
	} {
		got, err := MetricNames(tc.expr)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("MetricNames(%q) = %q, %v; want %q", tc.expr, got, err, tc.want)
		}
	}
	for _, bad := range []string{`a{b="c"`, `rate(a[5m)`, `a{b="c}`} {
		if _, err := MetricNames(bad); err == nil {
			t.Errorf("MetricNames(%q): no error", bad)
		}
	}
}

func TestRules(t *testing.T) {
	o := Options{Namespace: "ns1"}
	rules := Rules(o)
	seen := map[string]bool{}
	for _, r := range rules {
		if seen[r.Alert] || !regexp.MustCompile(`^Plinko[A-Za-z0-9]+$`).MatchString(r.Alert) {
			t.Errorf("alert name %q: duplicate or not Plinko<CamelCase>", r.Alert)
		}
		seen[r.Alert] = true
		if r.Severity != "critical" && r.Severity != "warning" {
			t.Errorf("%s: severity %q", r.Alert, r.Severity)
		}
		if r.Summary == "" || r.Description == "" || r.For <= 0 {
			t.Errorf("%s: summary, description and for are required", r.Alert)
		}
		names, err := MetricNames(r.Expr)
		if err != nil || len(names) == 0 {
			t.Errorf("%s: no metric in %q (%v)", r.Alert, r.Expr, err)
		}
		for _, n := range names {
			if External[n] != "" && n != "up" && !strings.Contains(r.Expr, `namespace="ns1"`) {
				t.Errorf("%s reads %s (%s) without limiting it to the namespace", r.Alert, n, External[n])
			}
		}
	}
	// The rule file parses back to the same rules, with runbook links.
	b, err := RuleFile(o)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr, For string
				Labels           map[string]string
				Annotations      map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Groups) != 1 || len(file.Groups[0].Rules) != len(rules) {
		t.Fatalf("rule file: %d groups", len(file.Groups))
	}
	for i, r := range file.Groups[0].Rules {
		if r.Alert != rules[i].Alert || r.Expr != rules[i].Expr || r.For != promDuration(rules[i].For) ||
			r.Labels["severity"] != rules[i].Severity {
			t.Errorf("rule file entry %d = %+v, want %+v", i, r, rules[i])
		}
		if want := DefaultRunbookURL + "#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
			t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
		}
	}
	if got := (Options{RunbookURL: "https://wiki.example/rb"}).Runbook(rules[0]); got != "https://wiki.example/rb#"+strings.ToLower(rules[0].Alert) {
		t.Errorf("configured runbook base: %s", got)
	}
}

// TestRunbook: every alert has its own section in infra/RUNBOOK.md, whose
// GitHub anchor is the one its runbook_url names, and every in-page link
// there resolves.
func TestRunbook(t *testing.T) {
	b, err := os.ReadFile("../RUNBOOK.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{1,6} (.+)$`).FindAllStringSubmatch(string(b), -1) {
		anchors[Anchor(m[1])] = true
	}
	for _, r := range Rules(Options{}) {
		u := Options{}.Runbook(r)
		if !anchors[u[strings.IndexByte(u, '#')+1:]] {
			t.Errorf("%s: RUNBOOK.md has no section for %s", r.Alert, u)
		}
		section := string(b)[strings.Index(string(b), "## "+r.Alert):]
		if end := strings.Index(section[3:], "\n## "); end > 0 {
			section = section[:end]
		}
		for _, part := range []string{"**Means:**", "**Look:**", "**Do:**"} {
			if !strings.Contains(section, part) {
				t.Errorf("runbook section %s lacks %s", r.Alert, part)
			}
		}
	}
	for _, m := range regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(string(b), -1) {
		if !anchors[m[1]] {
			t.Errorf("RUNBOOK.md links to #%s, which is no heading", m[1])
		}
	}
	if Anchor("PlinkoUpdaterLagBlocks") != "plinkoupdaterlagblocks" || Anchor("Looking in general") != "looking-in-general" {
		t.Error("Anchor does not match GitHub's rule")
	}
}

func TestDashboard(t *testing.T) {
	b, err := Dashboard("ns1")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	ns := false
	for _, v := range d.Templating.List {
		ns = ns || v.Name == "namespace" && v.Query == "ns1"
	}
	if !ns {
		t.Error("the $namespace constant is not the deployment's namespace")
	}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	exprs, err := PanelExprs("ns1")
	if err != nil {
		t.Fatal(err)
	}
	// The SLO panels the issue asks for: freshness, latency, errors,
	// throughput, saturation (CPU, memory, volume).
	all := ""
	for _, e := range exprs {
		if strings.Contains(e.Expr, "$") {
			t.Errorf("%s %s: unexpanded variable in %q", e.Panel, e.RefID, e.Expr)
		}
		if _, err := MetricNames(e.Expr); err != nil {
			t.Errorf("%s %s: %v", e.Panel, e.RefID, err)
		}
		all += e.Expr + "\n"
	}
	for _, m := range []string{"plinko_updater_lag_blocks", "plinko_updater_lag_seconds", "plinko_pir_epoch",
		"plinko_pir_query_duration_seconds_bucket", "plinko_pir_errors_total", "plinko_pir_queries_total",
		"container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "kubelet_volume_stats_used_bytes"} {
		if !strings.Contains(all, m) {
			t.Errorf("no panel shows %s", m)
		}
	}
}
