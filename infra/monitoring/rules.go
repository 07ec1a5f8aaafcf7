// Package monitoring is what an operator watches, as data: the alerting
// rules (one source for the PrometheusRule that infra/ deploys, the rule
// file, and the tests that run them through Prometheus's own rules engine)
// and the Grafana dashboard. It has no Pulumi or Prometheus dependency, so
// the program, the mock tests and the rule tests all read the same values.
package monitoring

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultRunbookURL is where each alert's runbook_url points, plus an
// anchor per alert (infra/RUNBOOK.md has one section per alert).
const DefaultRunbookURL = "https://github.com/plinko-pir/plinko/blob/main/infra/RUNBOOK.md"

// Options place the rules in a deployment.
type Options struct {
	// Namespace the workloads run in: the Kubernetes-level rules (Jobs,
	// volumes, crash loops) look only there.
	Namespace string
	// RunbookURL is the runbook's base URL (DefaultRunbookURL when empty).
	RunbookURL string
}

// Rule is one alerting rule.
type Rule struct {
	Alert    string
	Expr     string
	For      time.Duration
	Severity string // "critical": users get stale or no answers; "warning": they will soon
	Summary  string
	// Description may use Prometheus templates ({{ $value }}, {{ $labels.x }}).
	Description string
}

// Thresholds, in one place so the runbook and the tests can cite them.
const (
	LagBlocks         = 5               // blocks behind the chain's head
	LagSeconds        = 120             // seconds behind the first unpublished block
	StalledSeconds    = 300             // no epoch published for this long
	PIREpochsBehind   = 3               // epochs a pir-server may trail the updater
	LookupErrorRatio  = 0.01            // 5xx answers to POST /v1/query
	LookupP99Seconds  = 0.1             // p99 per query (2^23 measured: 7 ms)
	CDN5xxRatio       = 0.01            // 5xx answers of the cdn
	SnapshotIntervals = 2               // snapshot older than this many --snapshot-every
	VolumeUsedRatio   = 0.8             // data or chain volume
	CrashRestarts     = 3               // restarts in 15 minutes
	rateWindow        = "5m"            // rate() window of the ratio rules
	groupName         = "plinko"        // the rule group
	defaultFor        = 5 * time.Minute // how long a condition must hold
)

// Rules are the alerting rules, in runbook order.
func Rules(o Options) []Rule {
	ns := o.Namespace
	return []Rule{{
		Alert:       "PlinkoUpdaterLagBlocks",
		Expr:        fmt.Sprintf("max(plinko_updater_lag_blocks) > %d", LagBlocks),
		For:         defaultFor,
		Severity:    "warning",
		Summary:     "The updater is behind the chain's head",
		Description: "The updater has published up to {{ $value }} blocks fewer than the node has, for 5 minutes: wallets get stale balances.",
	}, {
		Alert:       "PlinkoUpdaterLagSeconds",
		Expr:        fmt.Sprintf("max(plinko_updater_lag_seconds) > %d", LagSeconds),
		For:         2 * time.Minute,
		Severity:    "warning",
		Summary:     "The updater has not published a block the node has had for minutes",
		Description: "The oldest unpublished block has waited {{ $value | humanizeDuration }}.",
	}, {
		Alert: "PlinkoUpdaterStalled",
		Expr: fmt.Sprintf(`time() - max(plinko_updater_last_publish_timestamp_seconds) > %d`+
			` or absent(up{namespace=%q, service="updater"} == 1)`, StalledSeconds, ns),
		For:         time.Minute,
		Severity:    "critical",
		Summary:     "The updater publishes nothing (or cannot be scraped)",
		Description: "No epoch for over 5 minutes, or the updater's /metrics is down: every client's balances are frozen.",
	}, {
		Alert:       "PlinkoPirServerEpochBehind",
		Expr:        fmt.Sprintf("max(plinko_updater_epoch) - on() group_right() plinko_pir_epoch > %d", PIREpochsBehind),
		For:         defaultFor,
		Severity:    "warning",
		Summary:     "A pir-server answers on an old epoch",
		Description: "Pod {{ $labels.pod }} is {{ $value }} epochs behind the newest delta: clients wait (425) or get older answers.",
	}, {
		Alert: "PlinkoLookupErrors",
		Expr: fmt.Sprintf(`sum(rate(plinko_pir_requests_total{endpoint="query", code=~"5.."}[%[1]s]))`+
			` / sum(rate(plinko_pir_requests_total{endpoint="query"}[%[1]s])) > %[2]g`, rateWindow, LookupErrorRatio),
		For:         defaultFor,
		Severity:    "critical",
		Summary:     "Private lookups fail",
		Description: "{{ $value | humanizePercentage }} of POST /v1/query answers are 5xx.",
	}, {
		Alert: "PlinkoLookupLatencyP99",
		Expr: fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(plinko_pir_query_duration_seconds_bucket[%s]))) > %g`,
			rateWindow, LookupP99Seconds),
		For:         10 * time.Minute,
		Severity:    "warning",
		Summary:     "Private lookups are slow",
		Description: "p99 of answering one query is {{ $value | humanizeDuration }}.",
	}, {
		Alert: "PlinkoCdn5xx",
		Expr: fmt.Sprintf(`sum(rate(plinko_cdn_requests_total{code=~"5.."}[%[1]s]))`+
			` / sum(rate(plinko_cdn_requests_total[%[1]s])) > %[2]g`, rateWindow, CDN5xxRatio),
		For:         defaultFor,
		Severity:    "critical",
		Summary:     "The cdn fails requests",
		Description: "{{ $value | humanizePercentage }} of cdn responses are 5xx: clients cannot sync hints or deltas.",
	}, {
		Alert: "PlinkoSnapshotStale",
		Expr: fmt.Sprintf(`max(plinko_updater_epoch) - max(plinko_updater_snapshot_epoch)`+
			` > %d * max(plinko_updater_snapshot_every_epochs > 0)`, SnapshotIntervals),
		For:         15 * time.Minute,
		Severity:    "warning",
		Summary:     "No fresh snapshot for two intervals",
		Description: "The newest snapshot is {{ $value }} epochs old: new clients replay many deltas and pruning has stopped.",
	}, {
		Alert: "PlinkoJobFailed",
		Expr: fmt.Sprintf(`kube_job_status_failed{namespace=%[1]q} > 0`+
			` unless on(namespace, job_name) kube_job_status_succeeded{namespace=%[1]q} > 0`, ns),
		For:         time.Minute,
		Severity:    "critical",
		Summary:     "A bootstrap Job failed",
		Description: "Job {{ $labels.job_name }} has failed pods and no success: the dataset was not (re)built.",
	}, {
		Alert: "PlinkoVolumeFull",
		Expr: fmt.Sprintf(`kubelet_volume_stats_used_bytes{namespace=%[1]q}`+
			` / kubelet_volume_stats_capacity_bytes{namespace=%[1]q} > %[2]g`, ns, VolumeUsedRatio),
		For:         defaultFor,
		Severity:    "warning",
		Summary:     "A volume is over 80% full",
		Description: "{{ $labels.persistentvolumeclaim }} is {{ $value | humanizePercentage }} full.",
	}, {
		Alert: "PlinkoPodCrashLooping",
		Expr: fmt.Sprintf(`max by (namespace, pod, container) (kube_pod_container_status_waiting_reason{namespace=%[1]q, reason="CrashLoopBackOff"}) > 0`+
			` or increase(kube_pod_container_status_restarts_total{namespace=%[1]q}[15m]) > %[2]d`, ns, CrashRestarts),
		For:         defaultFor,
		Severity:    "warning",
		Summary:     "A pod is crash-looping",
		Description: "{{ $labels.pod }} ({{ $labels.container }}) keeps restarting.",
	}}
}

// Anchor is the GitHub-style anchor of a runbook heading: lower case,
// spaces to '-', everything but letters, digits, '-' and '_' dropped.
func Anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Runbook is where rule r's runbook section lives.
func (o Options) Runbook(r Rule) string {
	base := o.RunbookURL
	if base == "" {
		base = DefaultRunbookURL
	}
	return base + "#" + Anchor(r.Alert)
}

// Labels and Annotations are what each rule carries.
func (r Rule) Labels() map[string]string { return map[string]string{"severity": r.Severity} }

func (o Options) Annotations(r Rule) map[string]string {
	return map[string]string{"summary": r.Summary, "description": r.Description, "runbook_url": o.Runbook(r)}
}

// Group is one rule group in Prometheus's rule-file form (also the spec of
// a PrometheusRule).
type Group struct {
	Name  string      `yaml:"name"`
	Rules []FileEntry `yaml:"rules"`
}

// FileEntry is one rule as a rule file has it.
type FileEntry struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// Groups are the rules as rule groups.
func Groups(o Options) []Group {
	g := Group{Name: groupName}
	for _, r := range Rules(o) {
		g.Rules = append(g.Rules, FileEntry{Alert: r.Alert, Expr: r.Expr, For: promDuration(r.For),
			Labels: r.Labels(), Annotations: o.Annotations(r)})
	}
	return []Group{g}
}

// RuleFile renders the rules as a Prometheus rule file (what `promtool
// check rules` and `promtool test rules` read).
func RuleFile(o Options) ([]byte, error) {
	b, err := yaml.Marshal(map[string]any{"groups": Groups(o)})
	if err != nil {
		return nil, fmt.Errorf("monitoring: rendering the rule file: %w", err)
	}
	return b, nil
}

// promDuration writes d as Prometheus does ("5m", "90s"); 0 is "".
func promDuration(d time.Duration) string {
	switch {
	case d == 0:
		return ""
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
