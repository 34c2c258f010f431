//! Tests on a real node (`tests/cluster/up --with-node`): pods run, NetworkPolicies are
//! enforced by kube-router's firewall, the operator runs as a pod from the chart, and the
//! backup stack runs beside it so restore-test sandboxes are made by real restores.
//! Its own test binary behind the `node-tests` feature (`cargo test --features node-tests
//! --test node`), run by `.ci/run` after the main suite, so a plain `cargo test` stays fast
//! and needs no root, containerd or kubelet.

mod availability;
mod network;
mod pods;
mod sandbox;
/// The shared test support crate (tests/support), under the name the test modules use.
mod support {
    pub use baseline_test_support::*;
}
