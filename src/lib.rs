//! baseline-operator: a company's written security policy as enforced, continuously checked
//! and auditable Kubernetes state.
//!
//! A pure core ([`evaluate`], [`desired`]) turns a [`snapshot::Snapshot`] of the cluster into
//! findings and owned objects; a thin shell ([`controller`]) watches, applies and writes status.

pub mod api;
pub mod audit;
pub mod catalog;
pub mod conditions;
pub mod controller;
pub mod cron;
pub mod desired;
pub mod engine;
pub mod evaluate;
pub mod evidence;
pub mod history;
pub mod kinds;
pub mod leader;
pub mod projection;
pub mod snapshot;
pub mod telemetry;
pub mod validate;
pub mod velero;
pub mod vocabulary;
