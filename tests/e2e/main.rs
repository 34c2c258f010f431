//! Integration tests against the project's real Kubernetes control plane.

mod admission;
mod backup_policy;
mod crd_validation;
mod drift;
mod environment_isolation;
mod evidence;
mod faults;
mod isolation_bypass;
mod leader;
mod network_and_psa;
mod security_baseline;
mod smoke;
mod support;
