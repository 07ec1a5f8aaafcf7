package realengine

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// tools are the binaries .ci/build-tools builds; `.ci/build-tools --env`
// prints these variables.
type tools struct {
	PulumiRoot    string // PulumiRoot/bin/pulumi is the CLI
	Plugin        string // pulumi-resource-kubernetes
	PluginVersion string // its version, e.g. 4.32.0
	APIServer     string
	Etcd          string
}

func toolsFromEnv(t *testing.T) tools {
	t.Helper()
	tl := tools{
		PulumiRoot:    os.Getenv("PLINKO_PULUMI_ROOT"),
		Plugin:        os.Getenv("PLINKO_PULUMI_KUBERNETES_PLUGIN"),
		PluginVersion: os.Getenv("PLINKO_PULUMI_KUBERNETES_VERSION"),
		APIServer:     os.Getenv("PLINKO_KUBE_APISERVER"),
		Etcd:          os.Getenv("PLINKO_ETCD"),
	}
	// PLINKO_REAL_ENGINE=1 asks for the real thing: missing tools fail, not skip.
	for name, path := range map[string]string{
		"PLINKO_PULUMI_ROOT (bin/pulumi)":  filepath.Join(tl.PulumiRoot, "bin", "pulumi"),
		"PLINKO_PULUMI_KUBERNETES_PLUGIN":  tl.Plugin,
		"PLINKO_KUBE_APISERVER":            tl.APIServer,
		"PLINKO_ETCD":                      tl.Etcd,
		"PLINKO_PULUMI_KUBERNETES_VERSION": tl.PluginVersion,
	} {
		if path == "" || path == filepath.Join("bin", "pulumi") {
			t.Fatalf("%s is not set: run `eval \"$(.ci/build-tools --env)\"` first", name)
		}
		if name == "PLINKO_PULUMI_KUBERNETES_VERSION" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s: %v (build it with .ci/build-tools)", name, err)
		}
	}
	return tl
}

// engine runs the real Pulumi CLI through the Automation API, with a private
// PULUMI_HOME holding only the Kubernetes provider plugin, a local file
// backend and passphrase secrets: nothing leaves the machine.
type engine struct {
	cmd     auto.PulumiCommand
	home    string
	backend string
	env     map[string]string
}

func newEngine(t *testing.T, ctx context.Context, tl tools) *engine {
	t.Helper()
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: tl.PulumiRoot})
	if err != nil {
		t.Fatalf("using the Pulumi CLI in %s: %v", tl.PulumiRoot, err)
	}
	e := &engine{cmd: cmd, home: t.TempDir(), backend: t.TempDir()}
	e.env = map[string]string{
		"PULUMI_HOME":                                 e.home,
		"PULUMI_BACKEND_URL":                          "file://" + e.backend,
		"PULUMI_CONFIG_PASSPHRASE":                    "realengine-test",
		"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		// Keep the engine away from any kubeconfig of the machine it runs on.
		"KUBECONFIG": filepath.Join(e.home, "no-kubeconfig"),
	}
	install := exec.CommandContext(ctx, filepath.Join(tl.PulumiRoot, "bin", "pulumi"),
		"plugin", "install", "resource", "kubernetes", "v"+tl.PluginVersion, "--file", tl.Plugin,
		"--non-interactive")
	install.Env = os.Environ()
	for k, v := range e.env {
		install.Env = append(install.Env, k+"="+v)
	}
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("installing the kubernetes plugin into %s: %v\n%s", e.home, err, out)
	}
	return e
}

// stack creates a fresh stack running program in-process (no language host).
func (e *engine) stack(t *testing.T, ctx context.Context, project, name string, program pulumi.RunFunc) auto.Stack {
	t.Helper()
	proj := workspace.Project{
		Name:    tokens.PackageName(project),
		Runtime: workspace.NewProjectRuntimeInfo("go", nil),
		Backend: &workspace.ProjectBackend{URL: "file://" + e.backend},
	}
	st, err := auto.UpsertStackInlineSource(ctx, name, project, program,
		auto.Pulumi(e.cmd),
		auto.PulumiHome(e.home),
		auto.WorkDir(t.TempDir()),
		auto.Project(proj),
		auto.SecretsProvider("passphrase"),
		auto.EnvVars(e.env),
	)
	if err != nil {
		t.Fatalf("creating stack %s: %v", name, err)
	}
	return st
}

// collect gathers engine events until the channel closes.
type collected struct {
	outputs []apitype.StepEventMetadata // ResOutputsEvent metadata, one per resource step
	done    chan struct{}
}

func collect(ch chan events.EngineEvent) *collected {
	c := &collected{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ev := range ch {
			if ev.ResOutputsEvent != nil {
				c.outputs = append(c.outputs, ev.ResOutputsEvent.Metadata)
			}
		}
	}()
	return c
}

// isKubernetesObject says whether a resource type is a Kubernetes API object
// (not a provider, component or Helm/YAML helper).
func isKubernetesObject(typ string) bool {
	if !strings.HasPrefix(typ, "kubernetes:") {
		return false
	}
	for _, helper := range []string{"kubernetes:helm.sh/", "kubernetes:yaml", "kubernetes:kustomize"} {
		if strings.HasPrefix(typ, helper) {
			return false
		}
	}
	return true
}

// serverProcessed says whether preview outputs came back from the API server's
// dry run: only the server fills in metadata.uid and creationTimestamp.
func serverProcessed(outputs map[string]any) bool {
	meta, _ := outputs["metadata"].(map[string]any)
	uid, _ := meta["uid"].(string)
	created, _ := meta["creationTimestamp"].(string)
	return uid != "" && created != ""
}
