package alerts

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"

	"github.com/plinko-pir/plinko/infra/monitoring"
)

var opts = monitoring.Options{Namespace: "plinko"}

// healthy is an hour of a system in good health, one sample a minute:
// every series a rule reads, at values that must not alert. Cases replace
// or delete single series.
func healthy() map[string]string {
	return map[string]string{
		`up{namespace="plinko", service="updater"}`:                                                                             `1x60`,
		`plinko_updater_last_publish_timestamp_seconds`:                                                                         `0+60x60`, // one epoch a minute: time() - it = 0
		`plinko_updater_lag_blocks`:                                                                                             `0x60`,
		`plinko_updater_lag_seconds`:                                                                                            `0x60`,
		`plinko_updater_epoch`:                                                                                                  `100+5x60`,
		`plinko_updater_snapshot_epoch`:                                                                                         `100+5x60`,
		`plinko_updater_snapshot_every_epochs`:                                                                                  `600x60`,
		`plinko_pir_epoch{pod="pir-0"}`:                                                                                         `100+5x60`,
		`plinko_pir_epoch{pod="pir-1"}`:                                                                                         `99+5x60`,
		`plinko_pir_requests_total{endpoint="query", code="200"}`:                                                               `0+600x60`,
		`plinko_pir_requests_total{endpoint="query", code="500"}`:                                                               `0x60`,
		`plinko_pir_requests_total{endpoint="epoch", code="503"}`:                                                               `0+50x60`, // not a lookup
		`plinko_pir_query_duration_seconds_bucket{le="0.01"}`:                                                                   `0+600x60`,
		`plinko_pir_query_duration_seconds_bucket{le="0.1"}`:                                                                    `0+600x60`,
		`plinko_pir_query_duration_seconds_bucket{le="0.25"}`:                                                                   `0+600x60`,
		`plinko_pir_query_duration_seconds_bucket{le="+Inf"}`:                                                                   `0+600x60`,
		`plinko_cdn_requests_total{kind="delta", code="200"}`:                                                                   `0+100x60`,
		`plinko_cdn_requests_total{kind="delta", code="503"}`:                                                                   `0x60`,
		`plinko_cdn_requests_total{kind="snapshot", code="404"}`:                                                                `0+100x60`, // 4xx are not the cdn's fault
		`kube_job_status_failed{namespace="plinko", job_name="db-gen"}`:                                                         `0x60`,
		`kube_job_status_succeeded{namespace="plinko", job_name="db-gen"}`:                                                      `1x60`,
		`kube_job_status_failed{namespace="other", job_name="backup"}`:                                                          `1x60`, // not ours
		`kubelet_volume_stats_used_bytes{namespace="plinko", persistentvolumeclaim="plinko-data"}`:                              `10x60`,
		`kubelet_volume_stats_capacity_bytes{namespace="plinko", persistentvolumeclaim="plinko-data"}`:                          `100x60`,
		`kube_pod_container_status_waiting_reason{namespace="plinko", pod="cdn-x", container="cdn", reason="CrashLoopBackOff"}`: `0x60`,
		`kube_pod_container_status_restarts_total{namespace="plinko", pod="cdn-x", container="cdn"}`:                            `2x60`,
	}
}

type ruleCase struct {
	name string
	// series replaced ("" deletes one) on top of healthy().
	series map[string]string
	// firing is every alert firing after the hour, as Name or Name{k=v,...}
	// (labels other than alertname and severity): everything else must not.
	firing []string
}

var ruleCases = []ruleCase{
	{name: "healthy"},
	{name: "lag blocks for 30 minutes",
		series: map[string]string{`plinko_updater_lag_blocks`: `0x30 8x30`},
		firing: []string{"PlinkoUpdaterLagBlocks"}},
	{name: "lag blocks for 4 minutes only (for: 5m)",
		series: map[string]string{`plinko_updater_lag_blocks`: `0x56 8x4`}},
	{name: "lag blocks at the threshold",
		series: map[string]string{`plinko_updater_lag_blocks`: `5x60`}},
	{name: "lag seconds growing",
		series: map[string]string{`plinko_updater_lag_seconds`: `0x50 0+60x10`},
		firing: []string{"PlinkoUpdaterLagSeconds"}},
	{name: "stalled: no epoch for 30 minutes",
		series: map[string]string{`plinko_updater_last_publish_timestamp_seconds`: `0+60x30 1800x30`},
		firing: []string{"PlinkoUpdaterStalled"}},
	{name: "stalled: updater not scraped",
		series: map[string]string{`up{namespace="plinko", service="updater"}`: `1x30 0x30`},
		firing: []string{"PlinkoUpdaterStalled"}},
	{name: "stalled: updater gone",
		series: map[string]string{`up{namespace="plinko", service="updater"}`: ``},
		firing: []string{"PlinkoUpdaterStalled"}},
	{name: "a pir-server stops applying deltas",
		series: map[string]string{`plinko_pir_epoch{pod="pir-1"}`: `99+5x30 249x30`},
		firing: []string{"PlinkoPirServerEpochBehind{pod=pir-1}"}},
	{name: "lookups fail 5%",
		series: map[string]string{`plinko_pir_requests_total{endpoint="query", code="500"}`: `0+30x60`},
		firing: []string{"PlinkoLookupErrors"}},
	{name: "lookups fail 0.5% (below 1%)",
		series: map[string]string{`plinko_pir_requests_total{endpoint="query", code="500"}`: `0+3x60`}},
	{name: "lookups slow",
		series: map[string]string{
			`plinko_pir_query_duration_seconds_bucket{le="0.01"}`: `0+6x60`,
			`plinko_pir_query_duration_seconds_bucket{le="0.1"}`:  `0+6x60`,
		},
		firing: []string{"PlinkoLookupLatencyP99"}},
	{name: "cdn fails a third",
		series: map[string]string{`plinko_cdn_requests_total{kind="delta", code="503"}`: `0+50x60`},
		firing: []string{"PlinkoCdn5xx"}},
	{name: "snapshot stale",
		series: map[string]string{
			`plinko_updater_epoch`:          `100+30x60`,
			`plinko_updater_snapshot_epoch`: `100x60`,
			`plinko_pir_epoch{pod="pir-0"}`: `100+30x60`,
			`plinko_pir_epoch{pod="pir-1"}`: `100+30x60`,
		},
		firing: []string{"PlinkoSnapshotStale"}},
	{name: "snapshots off (--snapshot-every 0)",
		series: map[string]string{
			`plinko_updater_epoch`:                 `100+30x60`,
			`plinko_updater_snapshot_epoch`:        `100x60`,
			`plinko_updater_snapshot_every_epochs`: `0x60`,
			`plinko_pir_epoch{pod="pir-0"}`:        `100+30x60`,
			`plinko_pir_epoch{pod="pir-1"}`:        `100+30x60`,
		}},
	{name: "db-gen failed",
		series: map[string]string{
			`kube_job_status_failed{namespace="plinko", job_name="db-gen"}`:    `0x10 3x50`,
			`kube_job_status_succeeded{namespace="plinko", job_name="db-gen"}`: `0x60`,
		},
		firing: []string{"PlinkoJobFailed{job_name=db-gen,namespace=plinko}"}},
	{name: "db-gen failed once, then succeeded",
		series: map[string]string{
			`kube_job_status_failed{namespace="plinko", job_name="db-gen"}`:    `1x60`,
			`kube_job_status_succeeded{namespace="plinko", job_name="db-gen"}`: `0x10 1x50`,
		}},
	{name: "data volume filling",
		series: map[string]string{`kubelet_volume_stats_used_bytes{namespace="plinko", persistentvolumeclaim="plinko-data"}`: `70+0.5x60`},
		firing: []string{"PlinkoVolumeFull{namespace=plinko,persistentvolumeclaim=plinko-data}"}},
	{name: "crash loop",
		series: map[string]string{`kube_pod_container_status_waiting_reason{namespace="plinko", pod="cdn-x", container="cdn", reason="CrashLoopBackOff"}`: `0x40 1x20`},
		firing: []string{"PlinkoPodCrashLooping{container=cdn,namespace=plinko,pod=cdn-x}"}},
	{name: "restarting every minute",
		series: map[string]string{`kube_pod_container_status_restarts_total{namespace="plinko", pod="cdn-x", container="cdn"}`: `0+1x60`},
		firing: []string{"PlinkoPodCrashLooping{container=cdn,namespace=plinko,pod=cdn-x}"}},
}

// TestRules loads the rule file rendered from infra/monitoring into
// Prometheus's rule manager and evaluates it, a minute at a time, over an
// hour of synthetic series per case: exactly the expected alerts fire.
func TestRules(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plinko.rules.yaml")
	b, err := monitoring.RuleFile(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, tc := range ruleCases {
		t.Run(tc.name, func(t *testing.T) {
			series := healthy()
			for k, v := range tc.series {
				if _, ok := series[k]; !ok {
					t.Fatalf("series %s is not in the healthy set", k)
				}
				if v == "" {
					delete(series, k)
				} else {
					series[k] = v
				}
			}
			got := evaluate(t, file, series, time.Hour)
			want := slices.Clone(tc.firing)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("firing after 1h:\n got  %q\n want %q", got, want)
			}
			for _, f := range tc.firing {
				covered[strings.SplitN(f, "{", 2)[0]] = true
			}
		})
	}
	for _, r := range monitoring.Rules(opts) {
		if !covered[r.Alert] {
			t.Errorf("no case makes %s fire", r.Alert)
		}
	}
}

// evaluate mirrors `promtool test rules`: lazily loaded series, the rule
// manager's groups evaluated at every minute, firing alerts at the end.
func evaluate(t *testing.T, ruleFile string, series map[string]string, span time.Duration) []string {
	t.Helper()
	var load strings.Builder
	load.WriteString("load 1m\n")
	for _, k := range slices.Sorted(maps.Keys(series)) {
		load.WriteString("  " + k + " " + series[k] + "\n")
	}
	p := parser.NewParser(parser.Options{})
	suite, err := promqltest.NewLazyLoader(load.String(), promqltest.LazyLoaderOpts{
		EnableAtModifier: true, EnableNegativeOffset: true, Parser: p,
	})
	if err != nil {
		t.Fatalf("loading series: %v\n%s", err, load.String())
	}
	defer suite.Close()
	m := rules.NewManager(&rules.ManagerOptions{
		QueryFunc:    rules.EngineQueryFunc(suite.QueryEngine(), suite.Storage()),
		AppendableV2: suite.Storage(),
		Context:      context.Background(),
		NotifyFunc:   func(context.Context, string, ...*rules.Alert) {},
		Logger:       promslog.NewNopLogger(),
		Parser:       p,
	})
	groups, errs := m.LoadGroups(time.Minute, labels.EmptyLabels(), "", nil, false, ruleFile)
	if errs != nil {
		t.Fatalf("loading %s: %v", ruleFile, errs)
	}
	for _, g := range groups {
		for _, r := range g.Rules() {
			if ar, ok := r.(*rules.AlertingRule); ok {
				ar.SetRestored(true)
			}
		}
	}
	start := time.Unix(0, 0).UTC()
	for ts := start; !ts.After(start.Add(span)); ts = ts.Add(time.Minute) {
		suite.WithSamplesTill(ts, func(err error) {
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range groups {
				g.Eval(suite.Context(), ts)
				for _, r := range g.Rules() {
					if err := r.LastError(); err != nil {
						t.Fatalf("rule %s at %v: %v", r.Name(), ts.Sub(start), err)
					}
				}
			}
		})
	}
	var firing []string
	for _, g := range groups {
		for _, r := range g.Rules() {
			ar, ok := r.(*rules.AlertingRule)
			if !ok {
				continue
			}
			for _, a := range ar.ActiveAlerts() {
				if a.State != rules.StateFiring {
					continue
				}
				var ls []string
				a.Labels.Range(func(l labels.Label) {
					if l.Name != labels.AlertName && l.Name != "severity" {
						ls = append(ls, l.Name+"="+l.Value)
					}
				})
				name := ar.Name()
				if len(ls) > 0 {
					name += "{" + strings.Join(ls, ",") + "}"
				}
				firing = append(firing, name)
				if a.Annotations.Get("runbook_url") == "" || strings.Contains(a.Annotations.Get("description"), "<no value>") {
					t.Errorf("%s: annotations %v", name, a.Annotations)
				}
			}
		}
	}
	slices.Sort(firing)
	return firing
}

// TestMetricNamesMatchParser checks infra/monitoring's scanner, which the
// main module's exported-metrics test relies on, against Prometheus's
// parser for every rule and every dashboard query.
func TestMetricNamesMatchParser(t *testing.T) {
	exprs := map[string]string{}
	for _, r := range monitoring.Rules(opts) {
		exprs["rule "+r.Alert] = r.Expr
	}
	panels, err := monitoring.PanelExprs("plinko")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range panels {
		exprs["panel "+p.Panel+" "+p.RefID] = p.Expr
	}
	p := parser.NewParser(parser.Options{})
	for name, expr := range exprs {
		e, err := p.ParseExpr(expr)
		if err != nil {
			t.Errorf("%s: %v\n  %s", name, err, expr)
			continue
		}
		var want []string
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				want = append(want, vs.Name)
			}
			return nil
		})
		slices.Sort(want)
		want = slices.Compact(want)
		got, err := monitoring.MetricNames(expr)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: scanner found %q (%v), the parser %q\n  %s", name, got, err, want, expr)
		}
	}
}
