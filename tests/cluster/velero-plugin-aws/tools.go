//go:build tools

// Package tools pins Velero's AWS object-store plugin (v1.14.x is the line for Velero 1.18),
// run by `velero server --plugin-dir` in `up --with-velero`.
package tools

import _ "github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws"
