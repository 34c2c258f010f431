//! EnvironmentIsolation controls.
