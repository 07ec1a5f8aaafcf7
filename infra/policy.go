package infra

import (
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// This file is the one place that makes the policy every workload gets:
// labels, the security context, probes, resources, volumes, spreading and
// rollout strategy. Components describe a workload (a Workload value) and
// never build pod specs of their own.

const (
	partOf = "plinko"
	// uid and gid of distroless/static's nonroot user.
	nonrootID = 65532
	// httpPort is the port every HTTP component listens on inside its pod.
	httpPort = 8080
	// dataMount is where the shared data volume is mounted.
	dataMount = "/data"
	// binaryPath is where runtime/Dockerfile installs the plinko binary.
	binaryPath = "/usr/local/bin/plinko"
	// chainMount is where the devnet keeps its chain.
	chainMount = "/chain"
)

// Resources is a container's requests and limits.
type Resources struct {
	CPURequest, CPULimit       string
	MemoryRequest, MemoryLimit string
}

// resourceTable is the seed's table of requests and limits per component.
var resourceTable = map[string]Resources{
	"devnet":     {"1000m", "2000m", "2Gi", "4Gi"},
	"db-gen":     {"500m", "1000m", "1Gi", "2Gi"},
	"hint-gen":   {"1000m", "2000m", "2Gi", "4Gi"},
	"updater":    {"250m", "500m", "512Mi", "1Gi"},
	"pir-server": {"500m", "1000m", "1Gi", "2Gi"},
	"cdn":        {"100m", "250m", "128Mi", "256Mi"},
	"wallet":     {"100m", "250m", "128Mi", "256Mi"},
}

// Port is a named container port.
type Port struct {
	Name string
	Port int
}

// Mount is a PersistentVolumeClaim mounted into the container.
type Mount struct {
	Claim    string
	Path     string
	ReadOnly bool
}

// Scratch is an emptyDir of the pod (bounded, lost with the pod).
type Scratch struct {
	Name, Path, Size string
}

// Probes are the HTTP paths kubelet checks; empty Liveness means a TCP check
// on the first port (for a component with no HTTP health endpoint); Exec,
// for a component with no port at all, is a command run in the container.
type Probes struct {
	Liveness, Readiness string
	Exec                []string
	// StartupSeconds is how long the component may take to start (loading a
	// snapshot) before liveness applies.
	StartupSeconds int
}

// Workload is what a component says about one of its pods.
type Workload struct {
	Name      string // also app.kubernetes.io/name and the object names
	Component string // app.kubernetes.io/component
	Args      []string
	Ports     []Port
	Probes    Probes
	Mounts    []Mount
	Scratch   []Scratch
	// Replicated workloads get spreading, a PDB and surge-only rollouts;
	// the others are singletons that own a volume and are replaced whole.
	Replicated bool
}

// policy carries the stack-wide inputs every workload shares.
type policy struct {
	namespace   string
	image       pulumi.StringInput
	pullSecrets []string
	instance    string
}

// labels are the app.kubernetes.io labels of a workload's objects.
func (p policy) labels(w Workload) pulumi.StringMap {
	return pulumi.StringMap{
		"app.kubernetes.io/name":       pulumi.String(w.Name),
		"app.kubernetes.io/instance":   pulumi.String(p.instance),
		"app.kubernetes.io/component":  pulumi.String(w.Component),
		"app.kubernetes.io/part-of":    pulumi.String(partOf),
		"app.kubernetes.io/managed-by": pulumi.String("pulumi"),
	}
}

// selector is the stable subset of labels that selects a workload's pods.
func (p policy) selector(w Workload) pulumi.StringMap {
	return pulumi.StringMap{
		"app.kubernetes.io/name":     pulumi.String(w.Name),
		"app.kubernetes.io/instance": pulumi.String(p.instance),
	}
}

func (p policy) meta(w Workload) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{
		Name:      pulumi.String(w.Name),
		Namespace: pulumi.String(p.namespace),
		Labels:    p.labels(w),
	}
}

// podSecurityContext satisfies Pod Security Admission "restricted".
func podSecurityContext() *corev1.PodSecurityContextArgs {
	return &corev1.PodSecurityContextArgs{
		RunAsNonRoot:        pulumi.Bool(true),
		RunAsUser:           pulumi.Int(nonrootID),
		RunAsGroup:          pulumi.Int(nonrootID),
		FsGroup:             pulumi.Int(nonrootID),
		FsGroupChangePolicy: pulumi.String("OnRootMismatch"),
		SeccompProfile:      &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

func containerSecurityContext() *corev1.SecurityContextArgs {
	return &corev1.SecurityContextArgs{
		RunAsNonRoot:             pulumi.Bool(true),
		RunAsUser:                pulumi.Int(nonrootID),
		RunAsGroup:               pulumi.Int(nonrootID),
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		AllowPrivilegeEscalation: pulumi.Bool(false),
		Privileged:               pulumi.Bool(false),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
		SeccompProfile:           &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

func resources(name string) *corev1.ResourceRequirementsArgs {
	r := resourceTable[name]
	return &corev1.ResourceRequirementsArgs{
		Requests: pulumi.StringMap{"cpu": pulumi.String(r.CPURequest), "memory": pulumi.String(r.MemoryRequest)},
		Limits:   pulumi.StringMap{"cpu": pulumi.String(r.CPULimit), "memory": pulumi.String(r.MemoryLimit)},
	}
}

// probe checks an HTTP path on the first port, or the port itself.
func probe(w Workload, path string, period, failures int) *corev1.ProbeArgs {
	pr := &corev1.ProbeArgs{
		PeriodSeconds:    pulumi.Int(period),
		TimeoutSeconds:   pulumi.Int(3),
		FailureThreshold: pulumi.Int(failures),
	}
	if w.Probes.Exec != nil {
		pr.Exec = &corev1.ExecActionArgs{Command: pulumi.ToStringArray(w.Probes.Exec)}
		pr.TimeoutSeconds = pulumi.Int(5)
		return pr
	}
	port := pulumi.String(w.Ports[0].Name)
	if path == "" {
		pr.TcpSocket = &corev1.TCPSocketActionArgs{Port: port}
	} else {
		pr.HttpGet = &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: port}
	}
	return pr
}

// container is the workload's one container with the full policy applied.
func (p policy) container(w Workload) corev1.ContainerArgs {
	c := corev1.ContainerArgs{
		Name:            pulumi.String(w.Name),
		Image:           p.image,
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		// JSON logs (fields component, epoch, block) for the log store.
		Args:            pulumi.ToStringArray(append(w.Args[:len(w.Args):len(w.Args)], "--log-format=json")),
		Resources:       resources(w.Name),
		SecurityContext: containerSecurityContext(),
		Env: corev1.EnvVarArray{
			// The Go runtime collects harder near the container's memory
			// limit instead of being killed at it (it already follows the
			// cgroup's CPU limit by itself).
			&corev1.EnvVarArgs{Name: pulumi.String("GOMEMLIMIT"), ValueFrom: &corev1.EnvVarSourceArgs{
				ResourceFieldRef: &corev1.ResourceFieldSelectorArgs{Resource: pulumi.String("limits.memory")},
			}},
		},
	}
	var ports corev1.ContainerPortArray
	for _, port := range w.Ports {
		ports = append(ports, &corev1.ContainerPortArgs{
			Name: pulumi.String(port.Name), ContainerPort: pulumi.Int(port.Port), Protocol: pulumi.String("TCP"),
		})
	}
	if ports != nil {
		c.Ports = ports
	}
	mounts := corev1.VolumeMountArray{
		&corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")},
	}
	for _, m := range w.Mounts {
		mounts = append(mounts, &corev1.VolumeMountArgs{
			Name: pulumi.String(m.Claim), MountPath: pulumi.String(m.Path), ReadOnly: pulumi.Bool(m.ReadOnly),
		})
	}
	for _, sc := range w.Scratch {
		mounts = append(mounts, &corev1.VolumeMountArgs{Name: pulumi.String(sc.Name), MountPath: pulumi.String(sc.Path)})
	}
	c.VolumeMounts = mounts
	if len(w.Ports) > 0 || w.Probes.Exec != nil {
		c.ReadinessProbe = probe(w, w.Probes.Readiness, 5, 3)
		c.LivenessProbe = probe(w, w.Probes.Liveness, 10, 3)
		if w.Probes.StartupSeconds > 0 {
			c.StartupProbe = probe(w, w.Probes.Liveness, 5, (w.Probes.StartupSeconds+4)/5)
		}
	}
	return c
}

// podSpec is the pod every workload runs: restricted security, no service
// account token (nothing here talks to the Kubernetes API), a writable /tmp
// and the workload's claims.
func (p policy) podSpec(w Workload, restart string) *corev1.PodSpecArgs {
	spec := &corev1.PodSpecArgs{
		Containers:                    corev1.ContainerArray{p.container(w)},
		SecurityContext:               podSecurityContext(),
		AutomountServiceAccountToken:  pulumi.Bool(false),
		EnableServiceLinks:            pulumi.Bool(false),
		RestartPolicy:                 pulumi.String(restart),
		TerminationGracePeriodSeconds: pulumi.Int(30),
	}
	volumes := corev1.VolumeArray{
		&corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("256Mi")}},
	}
	for _, m := range w.Mounts {
		volumes = append(volumes, &corev1.VolumeArgs{
			Name: pulumi.String(m.Claim),
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{
				ClaimName: pulumi.String(m.Claim), ReadOnly: pulumi.Bool(m.ReadOnly),
			},
		})
	}
	for _, sc := range w.Scratch {
		volumes = append(volumes, &corev1.VolumeArgs{
			Name: pulumi.String(sc.Name), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(sc.Size)},
		})
	}
	spec.Volumes = volumes
	if len(p.pullSecrets) > 0 {
		var refs corev1.LocalObjectReferenceArray
		for _, s := range p.pullSecrets {
			refs = append(refs, &corev1.LocalObjectReferenceArgs{Name: pulumi.String(s)})
		}
		spec.ImagePullSecrets = refs
	}
	if w.Replicated {
		// Spread replicas over nodes (soft, so the HPA can still scale past
		// the node count), and prefer nodes without a sibling.
		spec.TopologySpreadConstraints = corev1.TopologySpreadConstraintArray{
			&corev1.TopologySpreadConstraintArgs{
				MaxSkew:           pulumi.Int(1),
				TopologyKey:       pulumi.String("kubernetes.io/hostname"),
				WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
				LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: p.selector(w)},
			},
		}
		spec.Affinity = &corev1.AffinityArgs{PodAntiAffinity: &corev1.PodAntiAffinityArgs{
			PreferredDuringSchedulingIgnoredDuringExecution: corev1.WeightedPodAffinityTermArray{
				&corev1.WeightedPodAffinityTermArgs{
					Weight: pulumi.Int(100),
					PodAffinityTerm: &corev1.PodAffinityTermArgs{
						TopologyKey:   pulumi.String("kubernetes.io/hostname"),
						LabelSelector: &metav1.LabelSelectorArgs{MatchLabels: p.selector(w)},
					},
				},
			},
		}}
	}
	return spec
}

// podTemplate labels the pod like its owner.
func (p policy) podTemplate(w Workload, restart string) *corev1.PodTemplateSpecArgs {
	return &corev1.PodTemplateSpecArgs{
		Metadata: &metav1.ObjectMetaArgs{Labels: p.labels(w)},
		Spec:     p.podSpec(w, restart),
	}
}

// strategy: replicated services surge one new pod and never take one away
// before its replacement is ready; singletons own a ReadWriteOnce volume or
// are the single writer of the data, so the old pod stops before the new one.
func strategy(w Workload) *appsv1.DeploymentStrategyArgs {
	if !w.Replicated {
		return &appsv1.DeploymentStrategyArgs{Type: pulumi.String("Recreate")}
	}
	return &appsv1.DeploymentStrategyArgs{
		Type: pulumi.String("RollingUpdate"),
		RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
			MaxUnavailable: pulumi.Int(0),
			MaxSurge:       pulumi.Int(1),
		},
	}
}
