//! What the image's config says about running it (the OCI image spec's
//! `config.md`: Entrypoint, Cmd, Env, WorkingDir, User), merged with the
//! flags of `tincan run` the way `docker run` merges them.
//!
//! The user is a name *of the image*: `USER app` means the `app` of the
//! image's own `/etc/passwd`, which may not exist on the host, or be
//! someone else there. So names are looked up in the image's layers,
//! topmost first, never through the host's passwd database.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use oci_spec::image::Config;

// ANCHOR: command
/// The program: Entrypoint, then the arguments given after `--` or else
/// the image's Cmd (as `docker run IMAGE ARGS` replaces Cmd, not Entrypoint).
pub fn command(config: Option<&Config>, given: &[String]) -> Result<Vec<String>> {
    let entrypoint = config
        .and_then(|c| c.entrypoint().clone())
        .unwrap_or_default();
    let cmd = config.and_then(|c| c.cmd().clone()).unwrap_or_default();
    let mut args = entrypoint;
    args.extend(if given.is_empty() {
        cmd
    } else {
        given.to_vec()
    });
    if args.is_empty() {
        bail!("the image has no Entrypoint nor Cmd: give the command after --, e.g. -- /bin/sh");
    }
    Ok(args)
}
// ANCHOR_END: command

/// `base`, then the image's Env, then `-e` values: a later `KEY=` replaces
/// an earlier one in place.
pub fn merge_env(base: Vec<String>, layers: &[&[String]]) -> Vec<String> {
    let mut env = base;
    for var in layers.iter().flat_map(|l| l.iter()) {
        let key = var.split_once('=').map_or(var.as_str(), |(k, _)| k);
        match env
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
        {
            Some(old) => *old = var.clone(),
            None => env.push(var.clone()),
        }
    }
    env
}

/// The file `rel` (e.g. `etc/passwd`) as the container will see it: in the
/// topmost layer that has it, unless a higher layer deleted it (a 0/0
/// whiteout). `layers` are topmost first.
pub fn file_in_layers(layers: &[PathBuf], rel: &str) -> Option<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    for layer in layers {
        let path = layer.join(rel);
        match path.symlink_metadata() {
            Ok(m) if m.file_type().is_char_device() => return None,
            Ok(m) if m.is_file() => return Some(path),
            _ => {}
        }
    }
    None
}

// ANCHOR: user
/// Resolve `USER` / `--user`: `NAME|UID[:GROUP|GID]`, names through the
/// image's `/etc/passwd` and `/etc/group`. Returns uid, gid, and the
/// supplementary groups that list the user (as Docker adds them).
pub fn resolve_user(spec: &str, layers: &[PathBuf]) -> Result<(u32, u32, Vec<u32>)> {
    let read = |rel: &str| {
        file_in_layers(layers, rel)
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    };
    let (passwd, group) = (read("etc/passwd"), read("etc/group"));
    let (user, group_spec) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    // passwd: name:x:uid:gid:gecos:home:shell
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == user || f[2] == user));
    let (uid, name, primary) = match (user.parse::<u32>(), &entry) {
        (_, Some(f)) => (f[2].parse()?, f[0].to_string(), f[3].parse()?),
        (Ok(uid), None) => (uid, String::new(), 0),
        (Err(_), None) => bail!(
            "user {user:?} is not in the image's /etc/passwd; use a user of the image or a numeric UID[:GID]"
        ),
    };
    // group: name:x:gid:member,member
    let groups: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    let gid = match group_spec {
        None => primary,
        Some(g) => match (g.parse::<u32>(), groups.iter().find(|f| f[0] == g)) {
            (Ok(gid), _) => gid,
            (_, Some(f)) => f[2].parse()?,
            (Err(_), None) => bail!(
                "group {g:?} is not in the image's /etc/group; use a group of the image or a numeric GID"
            ),
        },
    };
    let extra = groups
        .iter()
        .filter(|f| !name.is_empty() && f.get(3).is_some_and(|m| m.split(',').any(|m| m == name)))
        .filter_map(|f| f[2].parse().ok())
        .filter(|g| *g != gid)
        .collect();
    Ok((uid, gid, extra))
}
// ANCHOR_END: user

/// `WorkingDir`, which must be absolute (an empty one means `/`).
pub fn workdir(config: Option<&Config>) -> Result<Option<PathBuf>> {
    match config.and_then(|c| c.working_dir().clone()) {
        Some(dir) if dir.is_empty() => Ok(None),
        Some(dir) if Path::new(&dir).is_absolute() => Ok(Some(dir.into())),
        Some(dir) => bail!("the image's WorkingDir {dir:?} is not an absolute path"),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_resolve_through_the_image_files() {
        let dir = std::env::temp_dir().join(format!("tincan-user-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc")).expect("mkdir");
        std::fs::write(
            dir.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1234:2345::/h:/bin/sh\n",
        )
        .expect("write passwd");
        std::fs::write(
            dir.join("etc/group"),
            "root:x:0:\napp:x:2345:\nstaff:x:50:app,x\n",
        )
        .expect("write group");
        let layers = [dir.clone()];
        assert_eq!(
            resolve_user("app", &layers).expect("app"),
            (1234, 2345, vec![50])
        );
        assert_eq!(
            resolve_user("app:staff", &layers).expect("app:staff"),
            (1234, 50, vec![])
        );
        assert_eq!(resolve_user("1234", &layers).expect("uid").0, 1234);
        assert_eq!(
            resolve_user("77:78", &layers).expect("numbers"),
            (77, 78, vec![])
        );
        assert!(resolve_user("nobody", &layers).is_err());
        assert!(resolve_user("app:wheel", &layers).is_err());
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert_eq!(
            merge_env(
                vec!["PATH=/bin".into(), "A=1".into()],
                &[&["A=2".into()], &["B=3".into()]]
            ),
            vec!["PATH=/bin", "A=2", "B=3"]
        );
    }
}
