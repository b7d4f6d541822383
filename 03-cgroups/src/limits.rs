//! Limits the way people type them: `64m`, `1.5g`, `0.5` CPUs, `max`.
//!
//! The kernel wants plain integers in its cgroup files (cgroups(7), and the
//! kernel's Documentation/admin-guide/cgroup-v2.rst): bytes for memory, a
//! quota and a period in microseconds for CPU time, a count for pids, bytes
//! per second for I/O. This module turns what a user typed into those numbers,
//! and turns nonsense into one line that says what is wrong and how to fix it.

use anyhow::{Result, bail};

/// A limit that may be lifted: the kernel spells "no limit" as `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// No limit (`max`).
    Max,
    /// At most this many (bytes, processes, ...).
    Value(u64),
}

impl Limit {
    /// The text the v2 files take: `max` or the number.
    pub fn to_v2(self) -> String {
        match self {
            Limit::Max => "max".into(),
            Limit::Value(n) => n.to_string(),
        }
    }
}

/// The CFS bandwidth period we use: 100 ms, the kernel's default.
pub const CPU_PERIOD_US: u64 = 100_000;

/// A CPU limit in "CPUs": `0.5` means half of one CPU's time per period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cpus {
    /// No limit.
    Max,
    /// This many CPUs' worth of time, > 0.
    Fraction(f64),
}

impl Cpus {
    /// (quota, period) in microseconds; quota `None` means no limit.
    pub fn quota_period(self) -> (Option<u64>, u64) {
        match self {
            Cpus::Max => (None, CPU_PERIOD_US),
            // The kernel refuses quotas under 1 ms.
            Cpus::Fraction(f) => (
                Some(((f * CPU_PERIOD_US as f64).round() as u64).max(1000)),
                CPU_PERIOD_US,
            ),
        }
    }
}

/// Everything a container's cgroup can be asked to enforce. `None` leaves
/// the kernel's default (no limit) in place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Memory limit in bytes; swap is turned off for the cgroup when set, so
    /// that the limit means "RAM", as `docker run --memory` does by default.
    pub memory: Option<Limit>,
    /// Memory plus swap, in bytes (OCI's `memory.swap`, docker's
    /// `--memory-swap`): at least `memory`; the swap a group may use is the
    /// difference. Without it, `memory` turns swap off.
    pub memory_swap: Option<Limit>,
    /// A soft floor of memory (OCI's `memory.reservation`): under memory
    /// pressure the kernel reclaims from groups above theirs first.
    pub memory_reservation: Option<Limit>,
    /// CPU bandwidth.
    pub cpus: Option<Cpus>,
    /// Relative CPU weight on the v2 scale, 1..=10000 (default 100); v1
    /// `cpu.shares` get the same proportion of 1024.
    pub cpu_weight: Option<u64>,
    /// Relative CPU weight on v1's scale, 2..=262144 (default 1024), as OCI's
    /// `cpu.shares` gives it: written as is on v1, converted on v2.
    pub cpu_shares: Option<u64>,
    /// Maximum number of processes (and threads).
    pub pids: Option<Limit>,
    /// Which CPUs the cgroup may run on, in the kernel's list format (`0-1,3`).
    pub cpuset: Option<String>,
    /// Read bandwidth cap (bytes/s) on a block device `major:minor`.
    pub read_bps: Option<(String, u64)>,
    /// Write bandwidth cap (bytes/s) on a block device `major:minor`.
    pub write_bps: Option<(String, u64)>,
}

// ANCHOR: parse_bytes
/// Parse a size: `64m`, `1.5g`, `512k`, `4096`, `2GiB`, or `max`.
/// Units are powers of 1024, as in `docker run --memory`.
pub fn parse_bytes(what: &str, text: &str) -> Result<Limit> {
    let t = text.trim().to_ascii_lowercase();
    if t == "max" {
        return Ok(Limit::Max);
    }
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => bail!(
            "{what} {text:?} is not a size: use a number with an optional unit, like 64m or 1.5g (or max)"
        ),
    };
    let value: f64 = number.parse().map_err(|_| {
        anyhow::anyhow!("{what} {text:?} is not a size: use a number with an optional unit, like 64m or 1.5g (or max)")
    })?;
    if value.is_sign_negative() || value == 0.0 {
        bail!("{what} {text:?} must be more than zero: use e.g. 64m, or max for no limit");
    }
    let bytes = value * (1u64 << shift) as f64;
    if bytes < 1.0 || bytes > i64::MAX as f64 {
        bail!("{what} {text:?} is out of range: use between 1 byte and 8 EiB, or max");
    }
    Ok(Limit::Value(bytes.round() as u64))
}
// ANCHOR_END: parse_bytes

/// Parse a CPU amount: `0.5`, `2`, `max`. Zero and negative amounts are
/// refused: a cgroup with no CPU time at all would never run.
pub fn parse_cpus(text: &str) -> Result<Cpus> {
    let t = text.trim().to_ascii_lowercase();
    if t == "max" {
        return Ok(Cpus::Max);
    }
    let value: f64 = t.parse().map_err(|_| {
        anyhow::anyhow!("--cpus {text:?} is not a number of CPUs: use e.g. 0.5 or 2 (or max)")
    })?;
    if !value.is_finite() || value <= 0.0 {
        bail!(
            "--cpus {text:?} must be more than zero: use e.g. 0.2 for a fifth of one CPU, or max"
        );
    }
    if value < 0.01 {
        bail!(
            "--cpus {text:?} is below the kernel's minimum quota (1 ms per 100 ms): use 0.01 or more"
        );
    }
    Ok(Cpus::Fraction(value))
}

/// Parse a process count: `32` or `max`.
pub fn parse_pids(text: &str) -> Result<Limit> {
    let t = text.trim().to_ascii_lowercase();
    if t == "max" {
        return Ok(Limit::Max);
    }
    match t.parse::<i64>() {
        Ok(n) if n >= 1 => Ok(Limit::Value(n as u64)),
        Ok(_) => bail!("--pids {text:?} must be at least 1 (the first process counts too), or max"),
        Err(_) => bail!("--pids {text:?} is not a whole number: use e.g. 32, or max"),
    }
}

/// Parse a CPU weight on the v2 scale (1..=10000, default 100).
pub fn parse_weight(text: &str) -> Result<u64> {
    match text.trim().parse::<u64>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => bail!("--cpu-weight {text:?} must be a whole number from 1 to 10000 (default 100)"),
    }
}

impl Limits {
    /// What v1's `cpu.shares` gets: the shares given, or the weight's.
    pub fn v1_shares(&self) -> Option<u64> {
        self.cpu_shares.or(self.cpu_weight.map(weight_to_shares))
    }

    /// What v2's `cpu.weight` gets: the weight given, or the shares'.
    pub fn v2_weight(&self) -> Option<u64> {
        self.cpu_weight.or(self.cpu_shares.map(shares_to_weight))
    }
}

// ANCHOR: shares_to_weight
/// v1 shares (2..=262144) to v2 weight (1..=10000) as runc and crun convert
/// them (the two ranges mapped end to end, linearly), so that an engine's
/// `cpu.shares` gives the same weight under every runtime. Note that the
/// defaults do not meet: 1024 shares become weight 39, not 100.
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + (shares - 2) * 9999 / 262_142
}
// ANCHOR_END: shares_to_weight

/// v2 weight (1..=10000, default 100) to v1 shares (2..=262144, default 1024).
pub fn weight_to_shares(weight: u64) -> u64 {
    (weight * 1024 / 100).clamp(2, 262_144)
}

/// The limits as `docker run` spells them (`--memory 64m`, `--cpus 0.5`,
/// `--pids-limit 64`), for a container runtime's command line. Stricter
/// than this step's demo flags: whole numbers of bytes with a unit, at least
/// Docker's 6 MiB, no `max`.
pub mod docker {
    use anyhow::{Result, bail};

    use super::CPU_PERIOD_US;

    // ANCHOR: parse_memory
    /// Parse `--memory 64m` (b, k, m or g; powers of 1024) into bytes.
    pub fn parse_memory(text: &str) -> Result<u64> {
        let hint = "use a number with an optional unit b, k, m or g, e.g. --memory 64m";
        let t = text.trim().to_ascii_lowercase();
        let t = t
            .strip_suffix('b')
            .filter(|r| r.ends_with(['k', 'm', 'g']))
            .unwrap_or(&t);
        let (digits, shift) = match t.chars().last() {
            Some('k') => (&t[..t.len() - 1], 10),
            Some('m') => (&t[..t.len() - 1], 20),
            Some('g') => (&t[..t.len() - 1], 30),
            Some('b') => (&t[..t.len() - 1], 0),
            _ => (t, 0),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid memory size {text:?}; {hint}"))?;
        let bytes = n
            .checked_mul(1 << shift)
            .ok_or_else(|| anyhow::anyhow!("memory size {text:?} is too large; {hint}"))?;
        // The kernel rounds to pages, and a few MiB are needed just to start a shell.
        if bytes < 6 << 20 {
            bail!("memory size {text:?} is below Docker's minimum of 6m; {hint}");
        }
        Ok(bytes)
    }
    // ANCHOR_END: parse_memory

    /// Parse `--cpus 0.5` into a CFS quota and period in microseconds
    /// (`(50000, 100000)`): the container may use half of one CPU's time in
    /// every 100 ms period.
    pub fn parse_cpus(text: &str) -> Result<(i64, u64)> {
        let cpus: f64 = text
            .trim()
            .parse()
            .ok()
            .filter(|c: &f64| c.is_finite() && *c > 0.0)
            .ok_or_else(|| {
                anyhow::anyhow!("invalid --cpus {text:?}; use a positive number such as 0.5 or 2")
            })?;
        let quota = (cpus * CPU_PERIOD_US as f64).round() as i64;
        if quota < 1000 {
            bail!(
                "--cpus {text:?} is too small; the kernel's minimum quota is 1 ms per 100 ms (0.01)"
            );
        }
        Ok((quota, CPU_PERIOD_US))
    }

    /// Parse `--pids-limit 64`.
    pub fn parse_pids(text: &str) -> Result<i64> {
        text.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "invalid --pids-limit {text:?}; use a positive whole number such as 64"
                )
            })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn docker_memory_accepts_docker_units() {
            assert_eq!(parse_memory("64m").expect("valid"), 64 << 20);
            assert_eq!(parse_memory("64MB").expect("valid"), 64 << 20);
            assert_eq!(parse_memory("1g").expect("valid"), 1 << 30);
            assert_eq!(parse_memory("10485760").expect("valid"), 10 << 20);
            assert_eq!(parse_memory("8192k").expect("valid"), 8 << 20);
        }

        #[test]
        fn docker_memory_rejects_lots_with_a_hint() {
            for bad in [
                "lots",
                "",
                "-5m",
                "1m",
                "99999999999g",
                "12q",
                "max",
                "1.5g",
            ] {
                let err = parse_memory(bad).expect_err(bad).to_string();
                assert!(err.contains("--memory 64m"), "{bad}: {err}");
            }
            assert_eq!(
                parse_memory("lots").expect_err("lots").to_string(),
                "invalid memory size \"lots\"; use a number with an optional unit b, k, m or g, \
                 e.g. --memory 64m"
            );
        }

        #[test]
        fn docker_cpus_make_quota_and_period() {
            assert_eq!(parse_cpus("0.5").expect("valid"), (50_000, 100_000));
            assert_eq!(parse_cpus("2").expect("valid"), (200_000, 100_000));
            for bad in ["0", "-1", "half", "NaN", "0.001", "max"] {
                assert!(parse_cpus(bad).is_err(), "{bad}");
            }
            assert_eq!(
                parse_cpus("x").expect_err("x").to_string(),
                "invalid --cpus \"x\"; use a positive number such as 0.5 or 2"
            );
        }

        #[test]
        fn docker_pids_are_positive() {
            assert_eq!(parse_pids("64").expect("valid"), 64);
            for bad in ["0", "-3", "x", "max"] {
                assert!(parse_pids(bad).is_err(), "{bad}");
            }
            assert_eq!(
                parse_pids("0").expect_err("0").to_string(),
                "invalid --pids-limit \"0\"; use a positive whole number such as 64"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(
            parse_bytes("--memory", "64m").expect("64m"),
            Limit::Value(64 << 20)
        );
        assert_eq!(
            parse_bytes("--memory", "1.5g").expect("1.5g"),
            Limit::Value(3 << 29)
        );
        assert_eq!(
            parse_bytes("--memory", "512K").expect("512K"),
            Limit::Value(512 << 10)
        );
        assert_eq!(
            parse_bytes("--memory", "2GiB").expect("2GiB"),
            Limit::Value(2 << 30)
        );
        assert_eq!(
            parse_bytes("--memory", "4096").expect("4096"),
            Limit::Value(4096)
        );
        assert_eq!(parse_bytes("--memory", "max").expect("max"), Limit::Max);
    }

    #[test]
    fn nonsense_sizes_are_refused_with_the_fix() {
        for bad in ["lots", "-5m", "0", "12q", "", "1.2.3m"] {
            let err = parse_bytes("--memory", bad).expect_err(bad).to_string();
            assert!(err.starts_with("--memory"), "{err}");
            assert!(err.contains("64m") || err.contains("max"), "{err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn cpus_become_quota_and_period() {
        assert_eq!(
            parse_cpus("0.5").expect("0.5").quota_period(),
            (Some(50_000), 100_000)
        );
        assert_eq!(
            parse_cpus("2").expect("2").quota_period(),
            (Some(200_000), 100_000)
        );
        assert_eq!(
            parse_cpus("max").expect("max").quota_period(),
            (None, 100_000)
        );
        for bad in ["0", "-1", "lots", "nan", "inf", "0.001"] {
            let err = parse_cpus(bad).expect_err(bad).to_string();
            assert!(err.starts_with("--cpus"), "{err}");
        }
    }

    #[test]
    fn pids_and_weights_are_checked() {
        assert_eq!(parse_pids("32").expect("32"), Limit::Value(32));
        assert_eq!(parse_pids("max").expect("max"), Limit::Max);
        assert!(parse_pids("0").is_err() && parse_pids("-3").is_err() && parse_pids("x").is_err());
        assert_eq!(parse_weight("100").expect("100"), 100);
        assert!(parse_weight("0").is_err() && parse_weight("10001").is_err());
        assert_eq!(weight_to_shares(100), 1024);
        assert_eq!(weight_to_shares(1), 10);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(512), 20);
    }
}
