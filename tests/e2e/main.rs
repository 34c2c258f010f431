//! Integration tests against the project's real Kubernetes control plane.

mod admission;
mod backup_policy;
mod crd_validation;
mod environment_isolation;
mod evidence;
mod leader;
mod security_baseline;
mod smoke;
mod support;
