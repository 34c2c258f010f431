//go:build tools

// Package tools pins the Kubernetes node commands built by ../build-node, from the same
// k8s.io/kubernetes version as the control plane in ../k8s.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
