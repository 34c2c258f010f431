//! The operator's domain vocabulary: the labels and annotations it sets, how it names
//! objects, selects namespaces, reads exemptions, recognises restore-test sandboxes, views
//! Velero's objects and maps environments. Both `evaluate` (what is true) and `desired` (what
//! should exist) speak it; neither reaches into the other for it.

pub mod environments;
pub mod exemptions;
pub mod images;
pub mod jobs;
pub mod labels;
pub mod objects;
pub mod pod_template;
pub mod rbac;
pub mod sandbox;
pub mod secret_material;
pub mod selection;
pub mod service_dns;
pub mod storage;
pub mod time;
pub mod velero_records;
pub mod velero_view;
