//! `linux.resources`: the cgroup limits (step 03) and the device allowlist.

use anyhow::{Context, Result, bail};
use oci_spec::runtime::Linux;
use step03::limits::{Cpus, Limit, Limits};

use super::unsupported;
use crate::config::{self, DeviceRule};

/// `linux.resources`: memory limit, swap and reservation, CPU quota/period,
/// pids, device rules.
pub(super) fn convert(linux: &Linux) -> Result<(Limits, Vec<DeviceRule>)> {
    // Device rules as runc orders them: deny everything, the bundle's
    // rules, then the devices every container needs (/dev/null, /dev/tty...),
    // so that podman's leading "deny all" does not take those away.
    let docker = config::docker_devices();
    let (deny_all, standard) = docker.split_at(1);
    let mut limits = Limits::default();
    let mut devices = deny_all.to_vec();
    let Some(res) = linux.resources() else {
        devices.extend_from_slice(standard);
        return Ok((limits, devices));
    };
    reject_if_some!(res.block_io(), "linux.resources.blockIO");
    reject_if_some!(res.hugepage_limits(), "linux.resources.hugepageLimits");
    reject_if_some!(res.network(), "linux.resources.network");
    reject_if_some!(res.rdma(), "linux.resources.rdma");
    reject_if_some!(res.unified(), "linux.resources.unified");
    if let Some(m) = res.memory() {
        reject_if_some!(m.kernel(), "linux.resources.memory.kernel");
        reject_if_some!(m.kernel_tcp(), "linux.resources.memory.kernelTCP");
        reject_if_some!(m.swappiness(), "linux.resources.memory.swappiness");
        reject_if_some!(
            m.disable_oom_killer(),
            "linux.resources.memory.disableOOMKiller"
        );
        reject_if_some!(m.use_hierarchy(), "linux.resources.memory.useHierarchy");
        reject_if_some!(
            m.check_before_update(),
            "linux.resources.memory.checkBeforeUpdate"
        );
        if let Some(limit) = m.limit() {
            let bytes = u64::try_from(limit)
                .ok()
                .filter(|b| *b >= 6 << 20)
                .with_context(|| {
                    format!("linux.resources.memory.limit {limit} must be at least 6 MiB")
                })?;
            limits.memory = Some(Limit::Value(bytes));
        }
        limits.memory_reservation = m.reservation().map(bytes_or_unlimited);
        limits.memory_swap = m.swap().map(bytes_or_unlimited);
        if let (Some(Limit::Value(swap)), Some(Limit::Value(ram))) =
            (limits.memory_swap, limits.memory)
        {
            if swap < ram {
                bail!(
                    "linux.resources.memory.swap {swap} is below memory.limit {ram}: \
                     it counts memory plus swap, so give at least the limit (or -1, unlimited)"
                );
            }
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(shares) = c.shares() {
            // v1's scale: step 03 writes them as they are to cpu.shares,
            // and on v2 converts them to cpu.weight as runc does.
            limits.cpu_shares = Some(shares);
        }
        reject_if_some!(c.idle(), "linux.resources.cpu.idle");
        reject_if_some!(c.burst(), "linux.resources.cpu.burst");
        reject_if_some!(c.realtime_runtime(), "linux.resources.cpu.realtimeRuntime");
        reject_if_some!(c.realtime_period(), "linux.resources.cpu.realtimePeriod");
        reject_if_some!(c.cpus(), "linux.resources.cpu.cpus");
        reject_if_some!(c.mems(), "linux.resources.cpu.mems");
        match (c.quota(), c.period()) {
            (Some(q), p) if q > 0 => {
                let period = p.unwrap_or(100_000);
                limits.cpus = Some(Cpus::Fraction(q as f64 / period as f64));
            }
            (Some(_), _) | (None, None) => {} // quota <= 0 means "no limit"
            (None, Some(_)) => {
                bail!("linux.resources.cpu.period without a quota limits nothing; add quota")
            }
        }
    }
    if let Some(p) = res.pids() {
        if p.limit() > 0 {
            limits.pids = Some(Limit::Value(p.limit() as u64));
        }
    }
    for (i, d) in res.devices().iter().flatten().enumerate() {
        let typ = d.typ().map_or("a".to_string(), |t| t.as_str().to_string());
        let typ = typ.as_str();
        if !["a", "b", "c"].contains(&typ) {
            bail!("linux.resources.devices[{i}].type {typ:?} must be a, b or c");
        }
        let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
        let access = d.access().clone().unwrap_or_else(|| "rwm".into());
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            bail!("linux.resources.devices[{i}].access {access:?} must be letters from \"rwm\"");
        }
        let rule = format!("{typ} {}:{} {access}", num(d.major()), num(d.minor()));
        devices.push(DeviceRule {
            allow: d.allow(),
            rule,
        });
    }
    devices.extend_from_slice(standard);
    Ok((limits, devices))
}

/// OCI's byte counts, where -1 (any negative number) means "unlimited".
fn bytes_or_unlimited(n: i64) -> Limit {
    u64::try_from(n).map_or(Limit::Max, Limit::Value)
}
