//! The UTS namespace: a hostname of one's own (uts_namespaces(7),
//! sethostname(2)).
//!
//! "UTS" is the `struct utsname` that uname(2) fills in. Two of its fields,
//! the hostname and the NIS domain name, belong to the UTS namespace: a
//! container can call itself `web-1` while the host keeps its own name.

use std::io::Write;

use anyhow::{Result, ensure};
use step01::probe::Probe;

use crate::demo::{self, host};
use crate::namespaces::{Namespace, Namespaces};
use crate::sandbox::Sandbox;

// ANCHOR: demo
/// The `uts` demo: set `hostname` inside a new UTS namespace.
pub fn demo(out: &mut dyn Write, hostname: &str) -> Result<()> {
    let outside = Probe::collect()?;
    let sandbox = Sandbox::new(Namespaces::none().with(Namespace::Uts)).hostname(hostname);
    let inside = demo::probe_inside(sandbox, || Ok(vec![]))?;
    let after = nix::unistd::gethostname()?.to_string_lossy().into_owned();
    ensure!(
        after == outside.hostname,
        "the host's hostname changed to {after:?}"
    );
    demo::print_table(
        out,
        &format!("A child in a new UTS namespace, after sethostname({hostname:?}):"),
        &outside,
        &inside.probe,
    )?;
    writeln!(
        out,
        "What just happened: the child changed the hostname of its own UTS namespace;\n\
         the host is still called {}.",
        host(&after)
    )?;
    Ok(())
}
// ANCHOR_END: demo
