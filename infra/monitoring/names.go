package monitoring

import (
	"fmt"
	"slices"
	"strings"
)

// External are the metrics a rule or panel uses that our components do not
// export, with who does. Everything else must appear on a component's
// /metrics (tests/monitoring checks it against the running local system).
var External = map[string]string{
	"up":                        "Prometheus (scrape health)",
	"kube_job_status_failed":    "kube-state-metrics",
	"kube_job_status_succeeded": "kube-state-metrics",
	"kube_pod_container_status_waiting_reason": "kube-state-metrics",
	"kube_pod_container_status_restarts_total": "kube-state-metrics",
	"kube_pod_container_resource_limits":       "kube-state-metrics",
	"kubelet_volume_stats_used_bytes":          "kubelet",
	"kubelet_volume_stats_capacity_bytes":      "kubelet",
	"container_cpu_usage_seconds_total":        "kubelet (cAdvisor)",
	"container_memory_working_set_bytes":       "kubelet (cAdvisor)",
}

// promqlWords are identifiers that are not metric names even when no '('
// follows: operators, modifiers, and aggregations written "sum by (x) (...)".
var promqlWords = map[string]bool{
	"and": true, "or": true, "unless": true, "atan2": true, "bool": true, "offset": true,
	"inf": true, "nan": true, "by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true,
	"sum": true, "min": true, "max": true, "avg": true, "count": true, "group": true, "stddev": true,
	"stdvar": true, "topk": true, "bottomk": true, "quantile": true, "count_values": true,
	"limitk": true, "limit_ratio": true,
}

// labelLists are keywords followed by a parenthesised list of label names.
var labelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// MetricNames lists the metric names a PromQL expression selects, sorted
// and unique. It is a scanner, not a parser: the rule tests in tests/alerts
// check it against Prometheus's parser for every rule and panel.
func MetricNames(expr string) ([]string, error) {
	var names []string
	s := expr
	i := 0
	skipTo := func(close byte) error {
		for j := i + 1; j < len(s); j++ {
			switch c := s[j]; {
			case c == '"' || c == '\'' || c == '`':
				k := strings.IndexByte(s[j+1:], c)
				if k < 0 {
					return fmt.Errorf("monitoring: unterminated string in %q", expr)
				}
				j += k + 1
			case c == close:
				i = j + 1
				return nil
			}
		}
		return fmt.Errorf("monitoring: missing %q in %q", close, expr)
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			k := strings.IndexByte(s[i+1:], c)
			if k < 0 {
				return nil, fmt.Errorf("monitoring: unterminated string in %q", expr)
			}
			i += k + 2
		case c == '{':
			if err := skipTo('}'); err != nil {
				return nil, err
			}
		case c == '[':
			if err := skipTo(']'); err != nil {
				return nil, err
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case c == '$': // a dashboard variable ($__rate_interval): not a name
			i++
			for i < len(s) && isIdent(s[i]) {
				i++
			}
		case isIdent(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			i = j
			for j < len(s) && (s[j] == ' ' || s[j] == '\n' || s[j] == '\t') {
				j++
			}
			called := j < len(s) && s[j] == '('
			switch {
			case labelLists[word] && called:
				i = j
				if err := skipTo(')'); err != nil {
					return nil, err
				}
			case called || promqlWords[strings.ToLower(word)]:
			default:
				names = append(names, word)
			}
		default:
			i++
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

func isIdent(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
