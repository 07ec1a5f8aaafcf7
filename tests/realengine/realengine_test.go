package realengine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// workload is a program TestRealEngine previews and renders: for a target it
// gives the program and the stack config that points it there.
type workload struct {
	Project string
	Name    string // subtest and stack name suffix
	Stack   func(t *testing.T, tg target) (pulumi.RunFunc, auto.ConfigMap)
}

// The real engine, the real Kubernetes provider plugin and a real API server:
//  1. render the workload graph to YAML (renderYamlToDirectory) and apply
//     every manifest with a server-side dry run (namespaces and CRDs for real,
//     so that what lives in them can be validated);
//  2. preview the graph against the API server: the provider dry-runs every
//     object, and the test checks each preview output came from the server;
//  3. prove both checks can fail: an out-of-range containerPort is rejected
//     with the API server's own message, through the engine and through apply.
func TestRealEngine(t *testing.T) {
	if os.Getenv("PLINKO_REAL_ENGINE") != "1" {
		t.Skip("PLINKO_REAL_ENGINE is not 1: this test needs the Pulumi CLI, its Kubernetes " +
			"plugin, kube-apiserver and etcd from .ci/build-tools (.ci/run builds them and sets it)")
	}
	tl := toolsFromEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	start := time.Now()
	c := startCluster(t, ctx, tl.Etcd, tl.APIServer)
	t.Logf("etcd + kube-apiserver ready in %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	e := newEngine(t, ctx, tl)
	t.Logf("kubernetes plugin installed in %s", time.Since(start).Round(time.Millisecond))

	for _, w := range workloads() {
		t.Run(w.Name, func(t *testing.T) {
			t.Run("render-and-dry-run-apply", func(t *testing.T) { renderAndApply(t, ctx, c, e, w) })
			t.Run("preview", func(t *testing.T) { previewAll(t, ctx, c, e, w) })
		})
	}
	t.Run("broken-resource-rejected", func(t *testing.T) { brokenRejected(t, ctx, c, e) })
}

// workloads lists what TestRealEngine runs: the real program with each
// stack's config, in existing-cluster mode.
func workloads() []workload {
	return []workload{infraWorkload("dev"), infraWorkload("prod"), infraWorkload("ha")}
}

func renderAndApply(t *testing.T, ctx context.Context, c *cluster, e *engine, w workload) {
	dir := t.TempDir()
	program, config := w.Stack(t, target{RenderDir: dir})
	st := e.stack(t, ctx, w.Project, "render-"+w.Name, program)
	if err := st.SetAllConfig(ctx, config); err != nil {
		t.Fatalf("setting stack config: %v", err)
	}
	start := time.Now()
	var out bytes.Buffer
	if _, err := st.Up(ctx, optup.ProgressStreams(&out), optup.ErrorProgressStreams(&out)); err != nil {
		t.Fatalf("pulumi up (render to %s): %v\n%s", dir, err, out.String())
	}
	t.Logf("rendered in %s", time.Since(start).Round(time.Millisecond))

	objs, err := readManifests(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Fatalf("render wrote no manifests to %s", dir)
	}
	start = time.Now()
	counts, errs := c.applyAll(ctx, objs)
	for _, err := range errs {
		t.Error(err)
	}
	t.Logf("%d manifests applied (namespaces, CRDs) or dry-run applied (the rest) in %s: %s",
		len(objs), time.Since(start).Round(time.Millisecond), summarize(counts))
}

func previewAll(t *testing.T, ctx context.Context, c *cluster, e *engine, w workload) {
	program, config := w.Stack(t, target{Kubeconfig: c.Kubeconfig})
	st := e.stack(t, ctx, w.Project, "live-"+w.Name, program)
	if err := st.SetAllConfig(ctx, config); err != nil {
		t.Fatalf("setting stack config: %v", err)
	}
	ch := make(chan events.EngineEvent)
	col := collect(ch)
	var out bytes.Buffer
	start := time.Now()
	res, err := st.Preview(ctx, optpreview.EventStreams(ch),
		optpreview.ProgressStreams(&out), optpreview.ErrorProgressStreams(&out))
	<-col.done
	if err != nil {
		t.Fatalf("pulumi preview against the API server: %v\n%s", err, out.String())
	}
	t.Logf("previewed in %s: %v", time.Since(start).Round(time.Millisecond), res.ChangeSummary)

	// Every object but the namespaces (which exist since the render step, so
	// the provider reports them as already there) must carry the uid and
	// creationTimestamp that only the API server's dry run fills in.
	counts := map[string]int{}
	for _, m := range col.outputs {
		if !isKubernetesObject(m.Type) || m.New == nil {
			continue
		}
		if m.Type == "kubernetes:core/v1:Namespace" {
			continue
		}
		if !serverProcessed(m.New.Outputs) {
			t.Errorf("%s: preview output was not produced by a server-side dry run (no metadata.uid/creationTimestamp; "+
				"the provider skips the dry run when the namespace is missing, and the render subtest creates it)", m.URN)
			continue
		}
		counts[m.Type]++
	}
	if len(counts) == 0 {
		t.Fatalf("preview dry-ran no Kubernetes object\n%s", out.String())
	}
	t.Logf("server-side dry run in preview: %s", summarize(counts))
}

func brokenRejected(t *testing.T, ctx context.Context, c *cluster, e *engine) {
	const want = "must be between 1 and 65535"

	// Through the engine: preview fails with the API server's message.
	st := e.stack(t, ctx, "realengine-broken", "live", brokenProgram(target{Kubeconfig: c.Kubeconfig}))
	var out bytes.Buffer
	_, err := st.Preview(ctx, optpreview.ProgressStreams(&out), optpreview.ErrorProgressStreams(&out))
	if err == nil {
		t.Fatalf("preview of a Deployment with containerPort 70000 passed; the check cannot fail\n%s", out.String())
	}
	if !strings.Contains(err.Error()+out.String(), want) {
		t.Fatalf("preview failed, but not with the API server's validation message %q: %v\n%s", want, err, out.String())
	}

	// Through render and apply: the same manifest is rejected by dry run.
	dir := t.TempDir()
	rst := e.stack(t, ctx, "realengine-broken", "render", brokenProgram(target{RenderDir: dir}))
	out.Reset()
	if _, err := rst.Up(ctx, optup.ProgressStreams(&out), optup.ErrorProgressStreams(&out)); err != nil {
		t.Fatalf("rendering the broken program: %v\n%s", err, out.String())
	}
	objs, err := readManifests(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, errs := c.applyAll(ctx, objs)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
		t.Fatalf("dry-run apply of the broken manifest: want one rejection with %q, got %v", want, errs)
	}
	t.Logf("rejected as expected: %v", errs[0])
}

func summarize(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%d", k, counts[k])
	}
	return b.String()
}
