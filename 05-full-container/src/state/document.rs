//! The state as the OCI runtime spec defines it (`runtime.md`, "State"):
//! what `tincan state` prints and what every hook reads on its stdin.

use serde_json::{Value, json};

use super::{State, Status};

impl State {
    /// The OCI state document of this container, as `status` with first
    /// process `pid` (as the host sees it; 0 when there is none).
    pub fn document(&self, status: Status, pid: i32) -> Value {
        json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": status,
            "pid": pid,
            "bundle": self.bundle,
            "annotations": self.annotations,
        })
    }
}
