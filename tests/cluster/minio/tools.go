//go:build tools

// Package tools pins the MinIO server, the S3-compatible object store behind the
// BackupStorageLocation of `up --with-velero`.
package tools

import _ "github.com/minio/minio"
