//! What the chain last said about each control, and which records a new evaluation calls
//! for. Pure: the operator's wiring passes `now`.

use super::entry::{Entry, Event, Observation, Record, ResourceRef};
use crate::catalog::ControlId;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;

/// The last observation of every control still tracked (a `Deleted` resource drops out).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Latest {
    observed: BTreeMap<(ResourceRef, ControlId), (Timestamp, Observation)>,
}

impl Latest {
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Self {
        let mut latest = Latest::default();
        for entry in entries {
            latest.apply(&entry.record);
        }
        latest
    }

    /// Takes one appended record into account.
    pub fn apply(&mut self, record: &Record) {
        match &record.event {
            Event::Transition { observation, .. } | Event::Checkpoint { observation } => {
                self.observed.insert(
                    (observation.resource.clone(), observation.control),
                    (record.at, observation.clone()),
                );
            }
            Event::Deleted { resource } => self.observed.retain(|(r, _), _| r != resource),
            Event::Started { .. } | Event::Stopped { .. } => {}
        }
    }

    /// The last observation of `control` of `resource`, and when it was made.
    pub fn get(
        &self,
        resource: &ResourceRef,
        control: ControlId,
    ) -> Option<&(Timestamp, Observation)> {
        self.observed.get(&(resource.clone(), control))
    }

    /// The resources with at least one tracked control.
    pub fn resources(&self) -> Vec<ResourceRef> {
        let mut resources: Vec<ResourceRef> =
            self.observed.keys().map(|(r, _)| r.clone()).collect();
        resources.dedup();
        resources
    }

    /// The records an evaluation at `now` calls for:
    /// - a `Transition` when a control is seen for the first time or its state changed;
    /// - a `Checkpoint` when anything else it records changed (counts, findings, exemptions,
    ///   policy), or when the last record of it is `checkpoint_interval` old or older;
    /// - nothing otherwise (a converged resync appends nothing).
    pub fn due(
        &self,
        now: Timestamp,
        observations: Vec<Observation>,
        checkpoint_interval: SignedDuration,
    ) -> Vec<Record> {
        let mut records = Vec::new();
        for observation in observations {
            let event = match self.get(&observation.resource, observation.control) {
                None => Event::Transition {
                    from: None,
                    observation,
                },
                Some((_, last)) if last.state != observation.state => Event::Transition {
                    from: Some(last.state),
                    observation,
                },
                Some((_, last)) if *last != observation => Event::Checkpoint { observation },
                Some((at, _)) if now.duration_since(*at) >= checkpoint_interval => {
                    Event::Checkpoint { observation }
                }
                Some(_) => continue,
            };
            records.push(Record { at: now, event });
        }
        records
    }
}
