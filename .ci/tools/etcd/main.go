// Command etcd is the etcd server, built from go.etcd.io/etcd/server/v3 so CI
// can run a real kube-apiserver without downloading release binaries.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
