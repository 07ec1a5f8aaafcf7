package infra

import (
	"fmt"
	"strconv"
	"time"
)

// The seven components of runtime/ as workloads: which subcommand of the one
// `plinko` binary each runs, with which flags, ports, probes and volumes.
// The flag names are runtime/cmd/plinko's.

// Claim names of the two PersistentVolumeClaims.
const (
	dataClaim  = "plinko-data"
	chainClaim = "devnet-chain"
)

// metricsPort is the updater's /metrics (it serves nothing else); the
// pir-server and cdn serve /metrics on their http port.
const metricsPort = 9090

// scrapedWorkloads serve Prometheus metrics on /metrics of the named port.
var scrapedWorkloads = []struct {
	Name, Port string
	Number     int
}{{"pir-server", "http", httpPort}, {"cdn", "http", httpPort}, {"updater", "metrics", metricsPort}}

// publicURLs are the URLs a browser uses, as the wallet page must know them.
type publicURLs struct {
	Wallet, API, Cdn string
}

// inCluster is the URL of a workload's Service from inside the namespace.
func inCluster(scheme, name string, port int) string {
	return fmt.Sprintf("%s://%s:%d", scheme, name, port)
}

func httpWorkload(name, component string) Workload {
	return Workload{
		Name:      name,
		Component: component,
		Ports:     []Port{{"http", httpPort}},
		Probes:    Probes{Liveness: "/healthz", Readiness: "/readyz"},
	}
}

func listen() string { return "0.0.0.0:" + strconv.Itoa(httpPort) }

// Paths on the shared data volume.
const (
	databaseFile = dataMount + "/database.bin" // db-gen's output
	publicDir    = dataMount + "/public"       // manifest, snapshot, deltas: what the cdn serves
	gzipMount    = "/cache"                    // the cdn's precompressed copies (per replica)
)

func devnetWorkload(c *Config) Workload {
	return Workload{
		Name:      "devnet",
		Component: "chain",
		Args: []string{"devnet",
			"--data", chainMount,
			"--http", "0.0.0.0:" + strconv.Itoa(rpcPort),
			"--ws", "0.0.0.0:" + strconv.Itoa(wsPort),
			"--accounts", strconv.Itoa(c.Devnet.Accounts),
			"--block-time", c.Devnet.BlockTime,
			// Every block's state stays readable, so an updater that was
			// down longer than 128 blocks replays instead of regenerating.
			"--archive",
		},
		Ports: []Port{{"rpc", rpcPort}, {"ws", wsPort}},
		// devnet has no HTTP health endpoint: TCP on the JSON-RPC port, with
		// time to generate a large state on first start.
		Probes: Probes{StartupSeconds: 900},
		Mounts: []Mount{{Claim: chainClaim, Path: chainMount}},
	}
}

func dbGenWorkload() Workload {
	return Workload{
		Name:      "db-gen",
		Component: "pipeline",
		Args: []string{"db-gen",
			"--rpc", inCluster("http", "devnet", rpcPort),
			"--out", databaseFile,
		},
		Mounts: []Mount{{Claim: dataClaim, Path: dataMount}},
	}
}

func hintGenWorkload() Workload {
	return Workload{
		Name:      "hint-gen",
		Component: "pipeline",
		Args:      []string{"hint-gen", "--database", databaseFile, "--out", publicDir},
		Mounts:    []Mount{{Claim: dataClaim, Path: dataMount}},
	}
}

// updaterWorkload: the single writer of the published directory after the
// bootstrap. It serves only its metrics (a Service for the ServiceMonitor);
// its probes run `plinko probe`, which checks that head.json is valid and
// was rewritten recently (the updater rewrites it for every block), which
// /metrics answering would not show. A restart resumes from head.json.
func updaterWorkload(c *Config) Workload {
	blockTime, _ := time.ParseDuration(c.Devnet.BlockTime) // validated
	maxAge := max(20*blockTime, 3*time.Minute)
	return Workload{
		Name:      "updater",
		Component: "pipeline",
		Args: []string{"updater",
			"--rpc", inCluster("ws", "devnet", wsPort),
			"--dir", publicDir,
			"--database", databaseFile,
			"--metrics-addr", "0.0.0.0:" + strconv.Itoa(metricsPort),
		},
		Ports: []Port{{"metrics", metricsPort}},
		Probes: Probes{
			Exec:           []string{binaryPath, "probe", "--dir", publicDir, "--max-age", maxAge.String()},
			StartupSeconds: 900,
		},
		Mounts: []Mount{{Claim: dataClaim, Path: dataMount}},
	}
}

// pirServerWorkload loads the snapshot and follows the deltas from the cdn
// Service over HTTP: no volume, so replicas start on any node.
func pirServerWorkload() Workload {
	w := httpWorkload("pir-server", "server")
	w.Args = []string{"pir-server",
		"--source", inCluster("http", "cdn", httpPort),
		"--addr", listen(),
	}
	// Loading and verifying a large snapshot takes a while.
	w.Probes.StartupSeconds = 600
	w.Replicated = true
	return w
}

// cdnWorkload serves the published directory read-only; its precompressed
// .gz copies go to a scratch volume of its own.
func cdnWorkload() Workload {
	w := httpWorkload("cdn", "cdn")
	w.Args = []string{"cdn", "--dir", publicDir, "--gzip-dir", gzipMount, "--addr", listen()}
	w.Mounts = []Mount{{Claim: dataClaim, Path: dataMount, ReadOnly: true}}
	w.Scratch = []Scratch{{Name: "gzip-cache", Path: gzipMount, Size: "4Gi"}}
	w.Replicated = true
	return w
}

func walletWorkload(u publicURLs) Workload {
	w := httpWorkload("wallet", "web")
	w.Args = []string{"wallet",
		"--cdn", u.Cdn,
		"--pir", u.API,
		"--wasm", wasmDir + "/plinko.wasm",
		"--addr", listen(),
	}
	w.Replicated = true
	return w
}

// wasmDir is where runtime/Dockerfile puts plinko.wasm and wasm_exec.js.
const wasmDir = "/opt/plinko/wasm"
