//go:build tools

// Package tools pins the Kyverno commands the scale bench runs out of cluster beside
// baseline-operator (benches/scale/kyverno.rs). tests/kyverno/build builds them.
package tools

import (
	_ "github.com/kyverno/kyverno/cmd/background-controller"
	_ "github.com/kyverno/kyverno/cmd/reports-controller"
)
