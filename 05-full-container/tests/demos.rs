//! Snapshots of the outputs the book shows that need no container.

mod common;

use common::{TempDir, stdout, tincan};

#[test]
fn capabilities_listing_marks_dockers_fourteen() {
    let state = TempDir::new("state-caps");
    let out = tincan(state.path(), &["capabilities"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert_eq!(text.matches(" kept ").count(), 14, "{text}");
    insta::assert_snapshot!("step05_capabilities", text);
}
