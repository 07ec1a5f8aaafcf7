package vultr

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type mocks struct {
	mu   sync.Mutex
	seen []pulumi.MockResourceArgs
}

func (m *mocks) NewResource(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	m.seen = append(m.seen, a)
	m.mu.Unlock()
	return a.Name + "-id", a.Inputs, nil
}

func (m *mocks) Call(a pulumi.MockCallArgs) (resource.PropertyMap, error) { return a.Args, nil }

func runMocked(t *testing.T, body pulumi.RunFunc) (*mocks, error) {
	t.Helper()
	m := &mocks{}
	return m, pulumi.RunErr(body, pulumi.WithMocks("p", "s", m))
}

func TestKubernetesRegistersSchemaProperties(t *testing.T) {
	m, err := runMocked(t, func(ctx *pulumi.Context) error {
		c, err := NewKubernetes(ctx, "c", KubernetesArgs{
			Label: "l", Region: "ewr", Version: "v1.33.0+1", HaControlplanes: true,
			NodePools: NodePool{Label: "p", Plan: "vc2-4c-8gb", NodeQuantity: 5, AutoScaler: true, MinNodes: 5, MaxNodes: 8},
		})
		if err != nil {
			return err
		}
		_, err = NewKubernetesNodePools(ctx, "extra", c.ID().ToStringOutput(), NodePool{Label: "x", Plan: "vc2-2c-4gb", NodeQuantity: 1})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.seen) != 2 {
		t.Fatalf("registered %d resources", len(m.seen))
	}
	c := m.seen[0]
	if c.TypeToken != KubernetesToken {
		t.Errorf("token %s", c.TypeToken)
	}
	pool := c.Inputs["nodePools"].ObjectValue()
	for k, want := range map[string]any{"plan": "vc2-4c-8gb", "nodeQuantity": 5.0, "minNodes": 5.0, "maxNodes": 8.0, "autoScaler": true} {
		if got := pool[resource.PropertyKey(k)].V; got != want {
			t.Errorf("nodePools.%s = %v, want %v", k, got, want)
		}
	}
	if !c.Inputs["haControlplanes"].BoolValue() {
		t.Error("haControlplanes not set")
	}
	rpc := c.RegisterRPC
	if rpc.GetPluginDownloadURL() != PluginDownloadURL || rpc.GetVersion() != PluginVersion {
		t.Errorf("plugin %s %s", rpc.GetPluginDownloadURL(), rpc.GetVersion())
	}
	if got := strings.Join(rpc.GetAdditionalSecretOutputs(), ","); got != "kubeConfig,clientKey" {
		t.Errorf("secret outputs %s", got)
	}
	if p := m.seen[1]; p.TypeToken != KubernetesNodePoolsToken || p.Inputs["clusterId"].StringValue() != "c-id" {
		t.Errorf("node pool %s %v", p.TypeToken, p.Inputs["clusterId"])
	}
}

func TestInvalidInputsAreRefusedBeforeRegistering(t *testing.T) {
	cases := map[string]func(ctx *pulumi.Context) error{
		"no plan": func(ctx *pulumi.Context) error {
			_, err := NewKubernetes(ctx, "c", KubernetesArgs{Label: "l", Region: "r", Version: "v", NodePools: NodePool{Label: "p", NodeQuantity: 1}})
			return err
		},
		"quantity outside bounds": func(ctx *pulumi.Context) error {
			_, err := NewKubernetes(ctx, "c", KubernetesArgs{Label: "l", Region: "r", Version: "v",
				NodePools: NodePool{Label: "p", Plan: "vc2-2c-4gb", NodeQuantity: 9, AutoScaler: true, MinNodes: 1, MaxNodes: 3}})
			return err
		},
		"registry name": func(ctx *pulumi.Context) error {
			_, err := NewContainerRegistry(ctx, "r", ContainerRegistryArgs{Name: "Bad_Name", Plan: "start_up", Region: "ewr"})
			if !errors.Is(err, ErrRegistryName) {
				t.Errorf("want ErrRegistryName, got %v", err)
			}
			return err
		},
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := runMocked(t, body)
			if err == nil {
				t.Fatal("accepted")
			}
			if len(m.seen) != 0 {
				t.Errorf("registered %d resources", len(m.seen))
			}
		})
	}
}

func TestRegistrySecretsAndURL(t *testing.T) {
	m, err := runMocked(t, func(ctx *pulumi.Context) error {
		_, err := NewContainerRegistry(ctx, "r", ContainerRegistryArgs{Name: "plinko", Plan: "start_up", Region: "ewr"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.seen[0].RegisterRPC.GetAdditionalSecretOutputs(); len(got) != 1 || got[0] != "rootUser" {
		t.Errorf("secret outputs %v", got)
	}
	if RegistryURL("ewr", "plinko") != "ewr.vultrcr.com/plinko" {
		t.Error(RegistryURL("ewr", "plinko"))
	}
}
