//! `hooks` (config.md, "POSIX-platform Hooks"): six lists of programs,
//! each checked here so that a bad one fails `create` before anything is
//! made, rather than half-way through the container's set-up.

use anyhow::{Result, bail};
use oci_spec::runtime::{Hook, Spec};

use crate::hooks::{self, Hooks};

/// The spec's hooks as [`Hooks`], every one checked: an absolute path, a
/// timeout above zero, an environment of `KEY=VALUE` entries.
pub fn convert(spec: &Spec) -> Result<Hooks> {
    let Some(oci) = spec.hooks() else {
        return Ok(Hooks::default());
    };
    let list = |kind: &str, hooks: &Option<Vec<Hook>>| -> Result<Vec<hooks::Hook>> {
        hooks
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, hook)| one(&format!("hooks.{kind}[{i}]"), hook))
            .collect()
    };
    // prestart is deprecated but still part of the spec: honoured.
    #[allow(deprecated)]
    let prestart = oci.prestart();
    Ok(Hooks {
        prestart: list("prestart", prestart)?,
        create_runtime: list("createRuntime", oci.create_runtime())?,
        create_container: list("createContainer", oci.create_container())?,
        start_container: list("startContainer", oci.start_container())?,
        poststart: list("poststart", oci.poststart())?,
        poststop: list("poststop", oci.poststop())?,
    })
}

fn one(at: &str, hook: &Hook) -> Result<hooks::Hook> {
    if !hook.path().is_absolute() {
        bail!(
            "{at}.path {:?} must be absolute (the spec resolves no PATH for hooks)",
            hook.path()
        );
    }
    let timeout = match hook.timeout() {
        None => None,
        Some(t @ 1..=86_400) => Some(t as u32),
        Some(t) => {
            bail!("{at}.timeout {t} must be a number of seconds above 0 (and at most a day)")
        }
    };
    let env = hook.env().clone().unwrap_or_default();
    if let Some(bad) = env.iter().find(|e| !e.contains('=')) {
        bail!("{at}.env entry {bad:?} is not KEY=VALUE");
    }
    Ok(hooks::Hook {
        path: hook.path().clone(),
        args: hook.args().clone().unwrap_or_default(),
        env,
        timeout,
    })
}
