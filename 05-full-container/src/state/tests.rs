//! The process identity that outlives pid reuse.

use super::*;

#[test]
fn process_id_tells_a_live_process_from_a_dead_one() {
    let me = ProcessId::of(std::process::id() as i32).expect("self");
    assert!(me.is_alive());
    let older = ProcessId {
        start_time: me.start_time.wrapping_sub(1),
        ..me
    };
    assert!(
        !older.is_alive(),
        "same pid, other start time: a recycled pid"
    );
    // A process identified while alive, then killed and reaped: gone.
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    let alive = ProcessId::of(child.id() as i32).expect("identify");
    assert!(alive.is_alive());
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert!(!alive.is_alive(), "a dead process is not alive");
}
