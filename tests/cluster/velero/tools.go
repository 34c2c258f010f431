//go:build tools

// Package tools pins the velero CLI.
package tools

import _ "github.com/vmware-tanzu/velero/cmd/velero"
