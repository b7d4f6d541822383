//! Scaling a service up and down, the way an orchestrator does: twenty
//! containers created at once from one image, all alive together, started,
//! then deleted at once, with nothing left behind. The summary and one
//! container's state record are snapshots that chapter 7 of the book shows.
//! As root.

mod common;

use std::path::Path;

use common::{TempDir, assert_nothing_left, cgroup_exists, rootfs, tincan_quiet};

/// How many containers the service scales to.
const REPLICAS: usize = 20;

/// The id of replica `i`.
fn id(i: usize) -> String {
    format!("tincan-scale-{i}")
}

/// Run `job(i)` for every replica on a thread of its own, all at once, and
/// collect the failures.
fn all_at_once(job: impl Fn(usize) -> Result<(), String> + Sync) -> Vec<String> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..REPLICAS)
            .map(|i| {
                scope.spawn({
                    let job = &job;
                    move || job(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("thread").err())
            .collect()
    })
}

/// One OCI verb on replica `i`, its output in a directory of its own.
fn verb(state: &Path, logs: &Path, i: usize, args: &[&str]) -> Result<String, String> {
    let dir = logs.join(id(i));
    std::fs::create_dir_all(&dir).expect("mkdir log dir");
    let out = tincan_quiet(state, &dir, args);
    if out.ok {
        Ok(out.stdout)
    } else {
        Err(format!("{}: tincan {}: {}", id(i), args[0], out.stderr))
    }
}

/// How many replicas `tincan state` reports with `status`.
fn count_status(state: &Path, logs: &Path, status: &str) -> usize {
    (0..REPLICAS)
        .filter(|&i| {
            verb(state, logs, i, &["state", &id(i)]).is_ok_and(|out| {
                serde_json::from_str::<serde_json::Value>(&out)
                    .is_ok_and(|json| json["status"] == status)
            })
        })
        .count()
}

/// The state record of replica 0, with pids, start times and temporary
/// paths replaced, and its cgroup directories written the same on cgroup
/// v1 (one per controller) and v2 (one).
fn redacted_record(state: &Path, bundle: &Path, image: &Path) -> String {
    let path = state.join(id(0)).join("state.json");
    let text = std::fs::read_to_string(&path).expect("read state.json");
    let mut json: serde_json::Value = serde_json::from_str(&text).expect("state JSON");
    for who in ["owner", "init"] {
        if let Some(process) = json[who].as_object_mut() {
            process.values_mut().for_each(|v| *v = "[N]".into());
        }
    }
    let mut cgroups: Vec<String> = json["cgroups"]
        .as_array()
        .expect("cgroups")
        .iter()
        .map(|p| {
            let p = p.as_str().expect("a path");
            let tail = &p[p.find("/tincan/").expect("under tincan/")..];
            format!("/sys/fs/cgroup/[HIERARCHY]{tail}")
        })
        .collect();
    cgroups.dedup();
    json["cgroups"] = serde_json::json!(cgroups);
    if let Some(created) = json["monitor"].get_mut("created") {
        *created = "[TIME]".into();
    }
    serde_json::to_string_pretty(&json)
        .expect("print JSON")
        .replace(bundle.to_str().expect("utf-8"), "[BUNDLE]")
        .replace(image.to_str().expect("utf-8"), "[IMAGE]")
        .replace(state.to_str().expect("utf-8"), "[STATE]")
}

#[test]
fn twenty_replicas_scale_up_and_down_and_leave_nothing() {
    if !step01::testing::need_root() {
        return;
    }
    let image = rootfs("scale");
    let state = TempDir::new("state-scale");
    let logs = TempDir::new("logs-scale");
    let bundles: Vec<TempDir> = (0..REPLICAS)
        .map(|i| {
            common::spec_bundle(
                &format!("scale-{i}"),
                image.path(),
                &["/bin/sleep", "60"],
                |json| {
                    json["linux"]["cgroupsPath"] = format!("/tincan/{}", id(i)).into();
                },
            )
        })
        .collect();
    let (s, l) = (state.path(), logs.path());
    let started = std::time::Instant::now();
    let mut summary = Vec::new();

    let failures = all_at_once(|i| {
        let b = bundles[i].path().to_str().expect("utf-8");
        verb(s, l, i, &["create", "--bundle", b, &id(i)]).map(drop)
    });
    assert!(failures.is_empty(), "failed creates: {failures:#?}");
    let record = redacted_record(s, bundles[0].path(), image.path());
    let cgroups = (0..REPLICAS).filter(|&i| cgroup_exists(&id(i))).count();
    summary.push(format!("scale up: {REPLICAS} `tincan create` at once"));
    summary.push(format!(
        "  status created: {}, cgroups: {cgroups}",
        count_status(s, l, "created")
    ));

    let failures = all_at_once(|i| verb(s, l, i, &["start", &id(i)]).map(drop));
    assert!(failures.is_empty(), "failed starts: {failures:#?}");
    summary.push(format!("start: {REPLICAS} `tincan start` at once"));
    summary.push(format!(
        "  status running: {}",
        count_status(s, l, "running")
    ));

    let failures = all_at_once(|i| verb(s, l, i, &["delete", "--force", &id(i)]).map(drop));
    assert!(failures.is_empty(), "failed deletes: {failures:#?}");
    let states_left = (0..REPLICAS).filter(|&i| s.join(id(i)).exists()).count();
    let cgroups_left = (0..REPLICAS).filter(|&i| cgroup_exists(&id(i))).count();
    summary.push(format!(
        "scale down: {REPLICAS} `tincan delete --force` at once"
    ));
    summary.push(format!(
        "  left behind: {states_left} state directories, {cgroups_left} cgroups"
    ));
    eprintln!(
        "{REPLICAS} replicas up, started and down in {:?}",
        started.elapsed()
    );

    for i in 0..REPLICAS {
        assert_nothing_left(s, &id(i));
    }
    insta::assert_snapshot!("scale_summary", summary.join("\n"));
    insta::assert_snapshot!("scale_state_record", record);
}
