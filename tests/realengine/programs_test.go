package realengine

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// target says where a program's Kubernetes provider points: a live API
// server (kubeconfig) or a directory that receives the rendered manifests.
type target struct {
	Kubeconfig string
	RenderDir  string
}

func (tg target) provider(ctx *pulumi.Context, name string) (*kubernetes.Provider, error) {
	args := &kubernetes.ProviderArgs{EnableServerSideApply: pulumi.BoolPtr(true)}
	if tg.RenderDir != "" {
		args.RenderYamlToDirectory = pulumi.StringPtr(tg.RenderDir)
	} else {
		args.Kubeconfig = pulumi.StringPtr(tg.Kubeconfig)
	}
	return kubernetes.NewProvider(ctx, name, args)
}

// deploymentArgs is a small workload that meets the "restricted" Pod
// Security level; containerPort is a parameter so that a broken variant
// differs from a valid one in exactly one field.
func deploymentArgs(namespace pulumi.StringInput, name string, containerPort int) *appsv1.DeploymentArgs {
	labels := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(name)}
	return &appsv1.DeploymentArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: namespace, Labels: labels},
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(1),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: labels},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels},
				Spec: &corev1.PodSpecArgs{
					SecurityContext: &corev1.PodSecurityContextArgs{
						RunAsNonRoot:   pulumi.Bool(true),
						SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
					},
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name:  pulumi.String("app"),
						Image: pulumi.String("registry.invalid/plinko/harness:test"),
						Ports: corev1.ContainerPortArray{&corev1.ContainerPortArgs{
							Name: pulumi.String("http"), ContainerPort: pulumi.Int(containerPort),
						}},
						SecurityContext: &corev1.SecurityContextArgs{
							AllowPrivilegeEscalation: pulumi.Bool(false),
							ReadOnlyRootFilesystem:   pulumi.Bool(true),
							Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
						},
					}},
				},
			},
		},
	}
}

// brokenProgram declares one Deployment whose containerPort is out of range,
// in a namespace that exists, so only the API server's validation can catch it.
func brokenProgram(tg target) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		k8s, err := tg.provider(ctx, "k8s")
		if err != nil {
			return err
		}
		_, err = appsv1.NewDeployment(ctx, "broken", deploymentArgs(pulumi.String("default"), "broken", 70000), pulumi.Provider(k8s))
		return err
	}
}
