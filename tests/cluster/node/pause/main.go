// Command pause is the pod sandbox's process: it holds the pod's namespaces open, reaps
// orphaned children (it is PID 1 when the pod shares its process namespace) and exits on
// SIGINT/SIGTERM. Built static by ../../build-node into the local pause image, because the
// test machine cannot pull registry.k8s.io/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
