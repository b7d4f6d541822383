//! Output that people read: aligned tables, the probe "outside vs inside",
//! durations and ratios.
//!
//! Demo output is the product, and the book shows it from tested snapshots.
//! Values that change from run to run or machine to machine (PIDs, inode
//! numbers, timings, the host's own facts) are printed as placeholders such
//! as `[PID]` when the environment variable `TINCAN_REDACT=1` is set. The
//! snapshot tests set it; so can you, to diff two runs. Verdicts such as
//! "same" / "CHANGED" are always computed from the real values.

use std::time::Duration;

use crate::probe::Probe;

/// The environment variable that turns on placeholders for volatile values.
pub const REDACT_ENV: &str = "TINCAN_REDACT";

/// True when volatile values should be printed as placeholders.
pub fn redacting() -> bool {
    std::env::var(REDACT_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A plain text table: a header row, a rule, then rows, columns left-aligned
/// and separated by two spaces.
#[derive(Debug, Default, Clone)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Table {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Append a row; missing cells are left empty.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Table {
        self.rows.push(cells.into_iter().map(Into::into).collect());
        self
    }

    /// Render with every column as wide as its widest cell.
    pub fn render(&self) -> String {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.header.len()])
            .max()
            .unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in self.rows.iter().chain([&self.header]) {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = cells.get(i).map_or("", String::as_str);
                out.push_str(cell);
                let pad = width - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', pad + 2));
            }
            out.trim_end().to_string() + "\n"
        };
        let mut out = line(&self.header);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&line(&rule));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// What kind of value a probe cell holds, which decides its placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A process id: `1` and `0` mean something, other values do not.
    Pid,
    /// A namespace inode number: only equality matters.
    Inode,
    /// A count: small counts mean something, large ones are the host's.
    Count,
    /// The number of mounts, judged by which mounts they are
    /// ([`Probe::mount_table`]), not by how many.
    Mounts,
    /// A fact of the host machine (hostname, interfaces, CPU count...).
    Host,
}

impl Kind {
    fn placeholder(self) -> &'static str {
        match self {
            Kind::Pid => "[PID]",
            Kind::Inode => "[INODE]",
            Kind::Count | Kind::Mounts => "[N]",
            Kind::Host => "[HOST]",
        }
    }

    /// The placeholder for a value that the inside probe reports *differently*
    /// from the host, or `None` when that value is stable and worth showing.
    fn inside_placeholder(self, text: &str) -> Option<&'static str> {
        let n: Option<u64> = text.parse().ok();
        match self {
            Kind::Pid if n.is_some_and(|n| n > 1) => Some("[PID]"),
            Kind::Inode => Some("[INODE]"),
            Kind::Count | Kind::Mounts if n.is_some_and(|n| n >= 10) => Some("[N]"),
            _ => None,
        }
    }
}

/// Format a byte count for people: `64.0 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Format a duration for people (`1.23 ms`), or `[DURATION]` when redacting.
pub fn duration(d: Duration) -> String {
    if redacting() {
        return "[DURATION]".into();
    }
    let ns = d.as_nanos() as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// Format a ratio (`2.31x`), or `[RATIO]` when redacting.
pub fn ratio(r: f64) -> String {
    if redacting() {
        "[RATIO]".into()
    } else {
        format!("{r:.2}x")
    }
}

/// Format any other measured number, or `[N]` when redacting.
pub fn measured(value: impl std::fmt::Display) -> String {
    if redacting() {
        "[N]".into()
    } else {
        value.to_string()
    }
}

/// The probe of one process next to the probe of another: one row per thing
/// a process can see, and whether it is the same or changed.
pub fn side_by_side(outside: &Probe, inside: &Probe) -> String {
    side_by_side_labeled(("outside", outside), ("inside", inside))
}

/// One row per thing a process can see: label, kind of value, value.
fn cells(p: &Probe) -> Vec<(String, Kind, String)> {
    let mut rows = vec![
        ("pid".to_string(), Kind::Pid, p.pid.to_string()),
        ("parent pid".into(), Kind::Pid, p.ppid.to_string()),
        ("uid/gid".into(), Kind::Host, format!("{}/{}", p.uid, p.gid)),
        ("hostname".into(), Kind::Host, p.hostname.clone()),
    ];
    for kind in crate::probe::NAMESPACES {
        let ino = p.namespaces.get(kind).map_or("-".into(), u64::to_string);
        rows.push((format!("{kind} namespace"), Kind::Inode, ino));
    }
    let interfaces: Vec<String> = p
        .interfaces
        .iter()
        .map(|i| format!("{}({})", i.name, if i.up { "up" } else { "down" }))
        .collect();
    let interfaces = if interfaces.is_empty() {
        "none".into()
    } else {
        interfaces.join(" ")
    };
    rows.extend([
        (
            "processes in /proc".to_string(),
            Kind::Count,
            p.processes.to_string(),
        ),
        ("mounts".into(), Kind::Mounts, p.mounts.to_string()),
        ("network interfaces".into(), Kind::Host, interfaces),
        ("cgroup".into(), Kind::Host, p.cgroup.clone()),
        ("root directory".into(), Kind::Host, p.root.join(" ")),
        ("CPUs allowed".into(), Kind::Host, p.cpus.to_string()),
        (
            "memory (meminfo)".into(),
            Kind::Host,
            bytes(p.mem_total_kib * 1024),
        ),
        (
            "memory limit".into(),
            Kind::Host,
            p.mem_limit_bytes.map_or("none".into(), bytes),
        ),
    ]);
    rows
}

/// "same" or "CHANGED". Large counts (10 or more) within 10% of each other
/// count as the same: the host's process count moves while we look (the
/// child itself is one more process), and that is not what the table is about.
fn verdict(kind: Kind, out: &str, ins: &str) -> &'static str {
    if out == ins {
        return "same";
    }
    if kind == Kind::Count {
        if let (Ok(a), Ok(b)) = (out.parse::<f64>(), ins.parse::<f64>()) {
            if a >= 10.0 && b >= 10.0 && (a - b).abs() < a.max(b) / 10.0 {
                return "same";
            }
        }
    }
    "CHANGED"
}

/// One probe as a two-column table.
pub fn single(heading: &str, probe: &Probe) -> String {
    let redact = redacting();
    let mut table = Table::new(["what the process sees", heading]);
    for (label, kind, value) in cells(probe) {
        let shown = if redact {
            kind.placeholder().to_string()
        } else {
            value
        };
        table.row([label, shown]);
    }
    table.render()
}

/// [`side_by_side`] with custom column headings.
pub fn side_by_side_labeled(outside: (&str, &Probe), inside: (&str, &Probe)) -> String {
    let redact = redacting();
    let mut table = Table::new(["what the process sees", outside.0, inside.0, ""]);
    for ((label, kind, out), (_, _, ins)) in cells(outside.1).into_iter().zip(cells(inside.1)) {
        let verdict = match kind {
            Kind::Mounts if outside.1.mount_table == inside.1.mount_table => "same",
            Kind::Mounts => "CHANGED",
            _ => verdict(kind, &out, &ins),
        };
        let (out_shown, ins_shown) = if redact {
            let out_shown = kind.placeholder().to_string();
            let ins_shown = if out == ins {
                out_shown.clone()
            } else {
                kind.inside_placeholder(&ins).map_or(ins, String::from)
            };
            (out_shown, ins_shown)
        } else {
            (out, ins)
        };
        table.row([label, out_shown, ins_shown, verdict.to_string()]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_trims_trailing_space() {
        let mut t = Table::new(["a", "long heading"]);
        t.row(["wide cell", "x"]);
        let text = t.render();
        assert_eq!(
            text,
            "a          long heading\n---------  ------------\nwide cell  x\n"
        );
    }

    #[test]
    fn bytes_reads_like_people_write() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(64 << 20), "64.0 MiB");
    }

    #[test]
    fn side_by_side_marks_what_changed() {
        let probe = Probe::collect().expect("probe");
        let mut other = probe.clone();
        other.hostname = "tincan".into();
        let text = side_by_side(&probe, &other);
        let host_line = text
            .lines()
            .find(|l| l.starts_with("hostname"))
            .expect("row");
        assert!(host_line.ends_with("CHANGED"), "{host_line}");
        let pid_line = text.lines().find(|l| l.starts_with("pid")).expect("row");
        assert!(pid_line.ends_with("same"), "{pid_line}");
    }
}
