// Command etcd is etcd's own entry point, built from the go.etcd.io/etcd/server/v3 version that the pinned
// k8s.io/kubernetes release requires, so the test control plane runs the etcd its apiserver was released with.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
