//go:build tools

// Package tools pins the cosign command that ../build builds: the real verifier the
// attestation tests run (`cosign verify-blob-attestation`).
package tools

import (
	_ "github.com/sigstore/cosign/v3/cmd/cosign"
)
