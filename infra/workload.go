package infra

import (
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Service is the component of one long-running service: its Deployment, its
// ClusterIP Service and, when replicated, its HPA and PodDisruptionBudget.
type Service struct {
	pulumi.ResourceState

	Name       string
	Deployment *appsv1.Deployment
	Service    *corev1.Service
	HPA        *autoscalingv2.HorizontalPodAutoscaler
	PDB        *policyv1.PodDisruptionBudget
}

// resources are the custom resources that make the service run.
func (s *Service) resources() []pulumi.Resource {
	rs := []pulumi.Resource{s.Deployment}
	if s.Service != nil {
		rs = append(rs, s.Service)
	}
	return rs
}

// serviceOptions are the per-service knobs beyond the Workload.
type serviceOptions struct {
	// Scaling, for a Replicated workload, bounds its HPA.
	Scaling                   Bounds
	CPUPercent, MemoryPercent int
}

// newService registers the component (type token plinko:infra:<kind>) and
// its children; they start after deps (a component stands for all of its
// children).
func newService(ctx *pulumi.Context, kind string, w Workload, so serviceOptions, p policy, deps []pulumi.Resource, opts ...pulumi.ResourceOption) (*Service, error) {
	s := &Service{Name: w.Name}
	if err := ctx.RegisterComponentResource("plinko:infra:"+kind, w.Name, s, opts...); err != nil {
		return nil, fmt.Errorf("registering component %s: %w", w.Name, err)
	}
	// Objects have fixed names (stable DNS and selectors), so a replacement
	// must delete the old object before creating the new one.
	child := []pulumi.ResourceOption{pulumi.Parent(s), pulumi.DependsOn(deps), pulumi.DeleteBeforeReplace(true)}
	sel := &metav1.LabelSelectorArgs{MatchLabels: p.selector(w)}

	replicas := 1
	if w.Replicated {
		replicas = so.Scaling.Min
	}
	deployment := &appsv1.DeploymentArgs{
		Metadata: p.meta(w),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas:             pulumi.Int(replicas),
			Selector:             sel,
			Strategy:             strategy(w),
			RevisionHistoryLimit: pulumi.Int(5),
			Template:             p.podTemplate(w, "Always"),
		},
	}
	// Startup probes allow up to 15 minutes (a large state or snapshot);
	// Pulumi's wait for readiness must be longer than that.
	depOpts := append(child, pulumi.Timeouts(&pulumi.CustomTimeouts{Create: "20m", Update: "20m"}))
	if w.Replicated {
		// The HPA owns the replica count after creation.
		depOpts = append(depOpts, pulumi.IgnoreChanges([]string{"spec.replicas"}))
	}
	var err error
	if s.Deployment, err = appsv1.NewDeployment(ctx, w.Name, deployment, depOpts...); err != nil {
		return nil, fmt.Errorf("creating deployment %s: %w", w.Name, err)
	}

	if len(w.Ports) == 0 {
		// Nothing connects to it: no Service.
		return s, ctx.RegisterResourceOutputs(s, pulumi.Map{})
	}
	var ports corev1.ServicePortArray
	for _, port := range w.Ports {
		ports = append(ports, &corev1.ServicePortArgs{
			Name: pulumi.String(port.Name), Port: pulumi.Int(port.Port),
			TargetPort: pulumi.String(port.Name), Protocol: pulumi.String("TCP"),
		})
	}
	if s.Service, err = corev1.NewService(ctx, w.Name, &corev1.ServiceArgs{
		Metadata: p.meta(w),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: p.selector(w),
			Ports:    ports,
		},
	}, child...); err != nil {
		return nil, fmt.Errorf("creating service %s: %w", w.Name, err)
	}

	if !w.Replicated {
		// A single pod that owns a volume (or is the single writer): a PDB
		// would only block node drains.
		return s, ctx.RegisterResourceOutputs(s, pulumi.Map{})
	}
	if s.PDB, err = policyv1.NewPodDisruptionBudget(ctx, w.Name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: p.meta(w),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       sel,
		},
	}, child...); err != nil {
		return nil, fmt.Errorf("creating pod disruption budget %s: %w", w.Name, err)
	}
	utilization := func(resource string, percent int) *autoscalingv2.MetricSpecArgs {
		return &autoscalingv2.MetricSpecArgs{
			Type: pulumi.String("Resource"),
			Resource: &autoscalingv2.ResourceMetricSourceArgs{
				Name:   pulumi.String(resource),
				Target: &autoscalingv2.MetricTargetArgs{Type: pulumi.String("Utilization"), AverageUtilization: pulumi.Int(percent)},
			},
		}
	}
	if s.HPA, err = autoscalingv2.NewHorizontalPodAutoscaler(ctx, w.Name, &autoscalingv2.HorizontalPodAutoscalerArgs{
		Metadata: p.meta(w),
		Spec: &autoscalingv2.HorizontalPodAutoscalerSpecArgs{
			ScaleTargetRef: &autoscalingv2.CrossVersionObjectReferenceArgs{
				ApiVersion: pulumi.String("apps/v1"), Kind: pulumi.String("Deployment"), Name: pulumi.String(w.Name),
			},
			MinReplicas: pulumi.Int(so.Scaling.Min),
			MaxReplicas: pulumi.Int(so.Scaling.Max),
			Metrics: autoscalingv2.MetricSpecArray{
				utilization("cpu", so.CPUPercent),
				utilization("memory", so.MemoryPercent),
			},
		},
	}, append(child, pulumi.DependsOn([]pulumi.Resource{s.Deployment}))...); err != nil {
		return nil, fmt.Errorf("creating autoscaler %s: %w", w.Name, err)
	}
	return s, ctx.RegisterResourceOutputs(s, pulumi.Map{})
}

// Pipeline is the component of the bootstrap Jobs: db-gen reads the chain
// into the database, then hint-gen lays it out as snapshot and manifest.
type Pipeline struct {
	pulumi.ResourceState

	DbGen   *batchv1.Job
	HintGen *batchv1.Job
}

// newJob creates a run-to-completion Job for w. The pod template is ignored
// after creation so that a new image does not re-run the bootstrap on a live
// system; `pulumi up --replace <urn>` runs it again on purpose.
func (p policy) newJob(ctx *pulumi.Context, w Workload, pc PipelineConfig, opts ...pulumi.ResourceOption) (*batchv1.Job, error) {
	opts = append(opts, pulumi.DeleteBeforeReplace(true), pulumi.IgnoreChanges([]string{"spec.template"}))
	job, err := batchv1.NewJob(ctx, w.Name, &batchv1.JobArgs{
		Metadata: p.meta(w),
		Spec: &batchv1.JobSpecArgs{
			BackoffLimit:          pulumi.Int(pc.BackoffLimit),
			ActiveDeadlineSeconds: pulumi.Int(pc.DeadlineSeconds),
			Completions:           pulumi.Int(1),
			Parallelism:           pulumi.Int(1),
			Template:              p.podTemplate(w, "Never"),
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating job %s: %w", w.Name, err)
	}
	return job, nil
}
