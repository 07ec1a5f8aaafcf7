// Package monitoring checks that the alerts and the dashboard of
// infra/monitoring read metrics the components really export: it starts the
// local system in-process and scrapes the pir-server's, the cdn's and the
// updater's /metrics. Metrics of kube-state-metrics, the kubelet and
// Prometheus itself are listed in monitoring.External.
package monitoring

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/plinko-pir/plinko/infra/monitoring"
	"github.com/plinko-pir/plinko/runtime/local"
)

func TestExportedMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sys, err := local.Start(ctx, local.Config{
		Accounts: 500, BlockTime: time.Second,
		WalletPort: -1, CDNPort: -1, PIRPort: -1, RPCPort: -1, MetricsPort: -1,
		SkipWallet: true,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sys.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	if err := sys.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	// Labelled counters appear once touched: fetch what a client fetches,
	// and send one malformed query (a refused request, counted by class).
	for _, u := range []string{sys.CDNURL + "/manifest.json", sys.CDNURL + "/head.json", sys.PIRURL + "/v1/epoch"} {
		get(t, u)
	}
	resp, err := http.Post(sys.PIRURL+"/v1/query", "application/octet-stream", strings.NewReader("not a query"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Blocks published, so the updater's per-block metrics exist.
	deadline := time.Now().Add(30 * time.Second)
	for published(get(t, sys.UpdaterMetricsURL)) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the updater published fewer than 3 epochs within 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The updater's metrics survive its restart (one set per process), and
	// the listener can be restarted too.
	before := get(t, sys.UpdaterMetricsURL)
	for _, name := range []string{"updater", "updater-metrics"} {
		if err := sys.Restart(name); err != nil {
			t.Fatal(err)
		}
	}
	var after string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(sys.UpdaterMetricsURL) // listening again takes a moment
		if err == nil {
			resp.Body.Close()
			after = get(t, sys.UpdaterMetricsURL)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted metrics listener never answered: %v", err)
		}
	}
	if published(after) < published(before) {
		t.Errorf("the updater's epochs-published counter went from %v to %v across a restart", published(before), published(after))
	}

	exported := map[string]string{}
	for component, url := range map[string]string{
		"pir-server": sys.PIRURL + "/metrics", "cdn": sys.CDNURL + "/metrics", "updater": sys.UpdaterMetricsURL,
	} {
		for _, name := range seriesNames(t, get(t, url)) {
			exported[name] = component
		}
	}
	for _, prefix := range []string{"plinko_pir_", "plinko_cdn_", "plinko_updater_"} {
		n := 0
		for name := range exported {
			if strings.HasPrefix(name, prefix) {
				n++
			}
		}
		if n < 5 {
			t.Errorf("only %d %s* series scraped", n, prefix)
		}
	}

	used := map[string][]string{} // metric -> where
	for _, r := range monitoring.Rules(monitoring.Options{Namespace: "plinko"}) {
		names, err := monitoring.MetricNames(r.Expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			used[n] = append(used[n], "rule "+r.Alert)
		}
	}
	panels, err := monitoring.PanelExprs("plinko")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range panels {
		names, err := monitoring.MetricNames(p.Expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			used[n] = append(used[n], "panel "+p.Panel)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(used)) {
		_, ours := exported[n]
		ext := monitoring.External[n]
		switch {
		case ours && ext != "":
			t.Errorf("%s is listed as external (%s) but %s exports it", n, ext, exported[n])
		case !ours && ext == "":
			t.Errorf("%s (used by %s) is exported by no component and not listed as external", n, strings.Join(used[n], ", "))
		}
	}
	for n := range monitoring.External {
		if used[n] == nil {
			t.Errorf("monitoring.External lists %s, which no rule or panel uses", n)
		}
	}
	t.Logf("%d metrics used by rules and panels, all exported or external; %d series names scraped", len(used), len(exported))
}

// published reads plinko_updater_epochs_published_total from /metrics text.
func published(text string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "plinko_updater_epochs_published_total "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// seriesNames are the names a PromQL selector can use: a histogram family
// x is x_bucket, x_sum and x_count.
func seriesNames(t *testing.T, text string) []string {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	var out []string
	for name, f := range fams {
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			out = append(out, name+"_bucket", name+"_sum", name+"_count")
		case dto.MetricType_SUMMARY:
			out = append(out, name, name+"_sum", name+"_count")
		default:
			out = append(out, name)
		}
	}
	return out
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(b)
}
