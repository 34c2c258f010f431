// The openreports.io/v1alpha1 Report and ClusterReport CRDs come from this pinned module's
// source (config/crd/), fetched into the Go module cache by tests/cluster/build; nothing is
// compiled from it.
module baseline-operator/tests/openreports

go 1.24

require github.com/openreports/reports-api v0.2.1
