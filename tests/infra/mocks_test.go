package infra_test

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinko-pir/plinko/infra"
	"github.com/plinko-pir/plinko/infra/stackconfig"
)

// The harness: run the real program under Pulumi mocks with a stack's real
// config file, and record every resource it registers.

const (
	testLBIP      = "203.0.113.10"
	testKubecfg   = "apiVersion: v1\nkind: Config\nclusters: []\nusers:\n- name: admin\n  user:\n    client-key-data: c2VjcmV0\n"
	testRegUser   = "registry-user"
	testRegSecret = "registry-password"
	testDigest    = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// registered is one resource as the mock monitor saw it.
type registered struct {
	Type, Name string
	Provider   string // provider reference (urn::id) of a custom resource
	Custom     bool
	Inputs     resource.PropertyMap
	Deps       []string // URNs this resource depends on
	PluginURL  string
	Version    string
	SecretOuts []string
}

type recorder struct {
	mu  sync.Mutex
	all []registered
}

func (r *recorder) NewResource(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	rec := registered{Type: a.TypeToken, Name: a.Name, Custom: a.Custom, Inputs: a.Inputs, Provider: a.Provider}
	if rpc := a.RegisterRPC; rpc != nil {
		rec.Deps = rpc.GetDependencies()
		rec.PluginURL = rpc.GetPluginDownloadURL()
		rec.Version = rpc.GetVersion()
		rec.SecretOuts = rpc.GetAdditionalSecretOutputs()
	}
	r.mu.Lock()
	r.all = append(r.all, rec)
	r.mu.Unlock()

	out := a.Inputs.Copy()
	switch a.TypeToken {
	case "vultr:index/kubernetes:Kubernetes":
		out["kubeConfig"] = resource.NewStringProperty(base64.StdEncoding.EncodeToString([]byte(testKubecfg)))
		out["clientKey"] = resource.NewStringProperty("key")
		out["status"] = resource.NewStringProperty("active")
	case "vultr:index/containerRegistry:ContainerRegistry":
		out["rootUser"] = resource.NewObjectProperty(resource.PropertyMap{
			"username": resource.NewStringProperty(testRegUser),
			"password": resource.NewStringProperty(testRegSecret),
		})
	case "docker:index/image:Image":
		name := a.Inputs["imageName"].StringValue()
		out["repoDigest"] = resource.NewStringProperty(name[:strings.LastIndex(name, ":")] + "@" + testDigest)
	case "kubernetes:networking.k8s.io/v1:Ingress":
		out["status"] = resource.NewObjectProperty(resource.PropertyMap{
			"loadBalancer": resource.NewObjectProperty(resource.PropertyMap{
				"ingress": resource.NewArrayProperty([]resource.PropertyValue{
					resource.NewObjectProperty(resource.PropertyMap{"ip": resource.NewStringProperty(testLBIP)}),
				}),
			}),
		})
	}
	return a.Name + "-id", out, nil
}

func (r *recorder) Call(a pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return a.Args, nil
}

// find returns the one resource of type token and name.
func (r *recorder) find(t *testing.T, token, name string) registered {
	t.Helper()
	var found []registered
	for _, x := range r.all {
		if x.Type == token && x.Name == name {
			found = append(found, x)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s %q, found %d", token, name, len(found))
	}
	return found[0]
}

func (r *recorder) ofType(token string) []registered {
	var out []registered
	for _, x := range r.all {
		if x.Type == token {
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// stackConfig reads ../../Pulumi.<stack>.yaml into the flat key -> value
// form the engine hands a program (objects as JSON).
func stackConfig(t *testing.T, stack string) map[string]string {
	t.Helper()
	cfg, err := stackconfig.Read(filepath.Join("..", "..", "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// withConfig hands the program a config, as the engine does; secretKeys are
// the keys marked secret.
func withConfig(cfg map[string]string, secretKeys ...string) pulumi.RunOption {
	return func(info *pulumi.RunInfo) {
		info.Config = cfg
		info.ConfigSecretKeys = secretKeys
	}
}

// result is what a run of the program produced.
type result struct {
	rec     *recorder
	outputs map[string]any
	secret  map[string]bool
	err     error
}

// run runs infra.Deploy under mocks and resolves its outputs.
func run(t *testing.T, stack string, cfg map[string]string, secretKeys ...string) result {
	t.Helper()
	res := result{rec: &recorder{}, outputs: map[string]any{}, secret: map[string]bool{}}
	res.err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		d, err := infra.Deploy(ctx)
		if err != nil {
			return err
		}
		for k, v := range d.Outputs {
			out := pulumi.ToOutput(v)
			res.secret[k] = pulumi.IsSecret(out)
			ch := make(chan any, 1)
			pulumi.Unsecret(out).ApplyT(func(x any) any { ch <- x; return x })
			res.outputs[k] = <-ch
		}
		return nil
	}, pulumi.WithMocks("plinko", stack, res.rec), withConfig(cfg, secretKeys...))
	return res
}

// dig walks a property value along a path such as
// "spec.template.spec.containers[0].args", looking through secrets.
func dig(v resource.PropertyValue, path string) (resource.PropertyValue, bool) {
	for _, part := range strings.Split(path, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			name = part[:i]
			n, err := strconv.Atoi(strings.TrimSuffix(part[i+1:], "]"))
			if err != nil {
				panic(fmt.Sprintf("bad path %q", path))
			}
			idx = n
		}
		v = plain(v)
		if name != "" {
			if !v.IsObject() {
				return resource.PropertyValue{}, false
			}
			var ok bool
			if v, ok = v.ObjectValue()[resource.PropertyKey(name)]; !ok {
				return resource.PropertyValue{}, false
			}
		}
		if idx >= 0 {
			v = plain(v)
			if !v.IsArray() || idx >= len(v.ArrayValue()) {
				return resource.PropertyValue{}, false
			}
			v = v.ArrayValue()[idx]
		}
	}
	return plain(v), true
}

func plain(v resource.PropertyValue) resource.PropertyValue {
	for {
		switch {
		case v.IsSecret():
			v = v.SecretValue().Element
		case v.IsOutput():
			v = v.OutputValue().Element
		default:
			return v
		}
	}
}

// at returns the Go value at path in the resource's inputs (nil if absent).
func (x registered) at(path string) any {
	v, ok := dig(resource.NewObjectProperty(x.Inputs), path)
	if !ok || v.IsNull() {
		return nil
	}
	return mappable(v)
}

func mappable(v resource.PropertyValue) any {
	v = plain(v)
	switch {
	case v.IsObject():
		m := map[string]any{}
		for k, e := range v.ObjectValue() {
			m[string(k)] = mappable(e)
		}
		return m
	case v.IsArray():
		var a []any
		for _, e := range v.ArrayValue() {
			a = append(a, mappable(e))
		}
		return a
	case v.IsNumber():
		return v.NumberValue()
	case v.IsNull():
		return nil
	}
	return v.V
}

// isSecretAt reports whether the input at path is marked secret.
func (x registered) isSecretAt(path string) bool {
	parts := strings.Split(path, ".")
	v := resource.NewObjectProperty(x.Inputs)
	for _, p := range parts {
		for v.IsOutput() && !v.OutputValue().Secret {
			v = v.OutputValue().Element
		}
		if v.IsSecret() || (v.IsOutput() && v.OutputValue().Secret) {
			return true
		}
		if !v.IsObject() {
			return false
		}
		v = v.ObjectValue()[resource.PropertyKey(p)]
	}
	return v.IsSecret() || (v.IsOutput() && v.OutputValue().Secret)
}

func (x registered) dependsOn(suffix string) bool {
	for _, d := range x.Deps {
		if strings.HasSuffix(d, suffix) {
			return true
		}
	}
	return false
}
