// Package realengine holds TestRealEngine: the Pulumi program run by the real
// Pulumi engine (Automation API, inline program, no language host) and the
// real Kubernetes provider plugin against a real kube-apiserver and etcd on
// 127.0.0.1, previewed and rendered with server-side dry runs. It runs when
// PLINKO_REAL_ENGINE=1 and the tools from .ci/build-tools are on hand
// (`eval "$(.ci/build-tools --env)"`); .ci/run does both.
package realengine
