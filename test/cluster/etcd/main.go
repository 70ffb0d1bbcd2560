// Command etcd is etcd's own server entry point, in a module of its own so that its
// dependency versions do not move the apiserver's etcd client.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
