//go:build tools

// Package tools pins Prometheus's module so that tests/prometheus/build can build its
// prometheus and promtool commands at exactly this version (go.sum holds every checksum).
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
