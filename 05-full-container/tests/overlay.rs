//! Overlayfs for real (as root): the container writes, the image does not change.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use step05::overlay::{Overlay, is_mount_point};

/// A temporary directory removed even when the test fails.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("tincan-test-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("mkdir temp");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = step05::overlay::remove_layer_dir(&self.0.join("layer"));
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Every file under `dir` with its contents, to compare before and after.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(snapshot(&path));
        } else {
            out.push((path.clone(), fs::read(&path).expect("read")));
        }
    }
    out.sort();
    out
}

#[test]
fn writes_land_in_upper_and_never_touch_the_image() {
    if !step01::testing::need_root() {
        return;
    }
    let tmp = TempDir::new("overlay");
    let lower = tmp.0.join("image");
    fs::create_dir_all(lower.join("etc")).expect("mkdir");
    fs::write(lower.join("etc/hostname"), "image\n").expect("write");
    fs::write(lower.join("etc/doomed"), "delete me\n").expect("write");
    let before = snapshot(&lower);

    let overlay = Overlay::mount(&lower, &tmp.0.join("layer")).expect("mount overlay");
    let merged = overlay.merged();
    assert!(is_mount_point(&merged).expect("mountinfo"));
    // The container changes a file, adds one, deletes one.
    fs::write(merged.join("etc/hostname"), "container\n").expect("modify");
    fs::write(merged.join("new-file"), "new\n").expect("create");
    fs::remove_file(merged.join("etc/doomed")).expect("delete");
    assert_eq!(
        fs::read_to_string(merged.join("etc/hostname")).expect("read"),
        "container\n"
    );
    assert!(!merged.join("etc/doomed").exists());

    // The image is byte-for-byte what it was.
    assert_eq!(snapshot(&lower), before);
    // The changes are in upper: a copied-up file, a new file, and a whiteout
    // (a character device 0:0) hiding the deleted one.
    let upper = overlay.upper();
    assert_eq!(
        fs::read_to_string(upper.join("etc/hostname")).expect("read"),
        "container\n"
    );
    assert!(upper.join("new-file").exists());
    let whiteout = fs::symlink_metadata(upper.join("etc/doomed")).expect("whiteout");
    assert!(
        whiteout.file_type().is_char_device() && whiteout.rdev() == 0,
        "{whiteout:?}"
    );

    let layer = overlay.dir.clone();
    overlay.remove().expect("remove overlay");
    assert!(!is_mount_point(&merged).expect("mountinfo"));
    assert!(!layer.exists(), "the writable layer must be gone");
    assert_eq!(snapshot(&lower), before);
}

#[test]
fn missing_image_fails_and_leaves_nothing() {
    if !step01::testing::need_root() {
        return;
    }
    let tmp = TempDir::new("overlay-missing");
    let err =
        Overlay::mount(&tmp.0.join("no-such-image"), &tmp.0.join("layer")).expect_err("missing");
    assert!(format!("{err:#}").contains("does not exist"), "{err:#}");
    assert!(!tmp.0.join("layer").exists());
}
