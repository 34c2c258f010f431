//! BackupPolicy controls.
