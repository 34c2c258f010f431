//! Integration tests against the project's real Kubernetes control plane.

mod access_pairs;
mod admission;
mod backup_policy;
mod bundle_figures;
mod crd_validation;
mod drift;
mod engine_shadow;
mod environment_isolation;
mod evidence;
mod faults;
mod honest_figures;
mod hostile_input;
mod isolation_bypass;
mod leader;
mod narrow_isolation;
mod narrow_passes;
mod network_and_psa;
mod network_union;
mod never_weaken;
mod overlap;
mod partial_failure;
mod prometheus_scrape;
mod report_only_controls;
mod secret_oracle;
mod security_baseline;
mod smoke;
/// The shared test support crate (tests/support), under the name the test modules use.
mod support {
    pub use baseline_test_support::*;
}
mod system_namespaces;
mod template_vouching;
mod tenant_scope;
