//! Integration tests against the project's real Kubernetes control plane.

mod crd_validation;
mod security_baseline;
mod smoke;
mod support;
