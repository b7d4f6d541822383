//! `--log FILE --log-format json|text`: where engines read a runtime's
//! errors. containerd's runc shim and conmon give every runtime call a log
//! file and, when the call fails, show the last error logged there. The
//! lines are logrus's, as runc writes them:
//! `{"level":"error","msg":"...","time":"2026-12-02T19:30:00Z"}`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// The line formats engines ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// `time="..." level=error msg="..."`.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Append `message` at level `error` to the log file.
pub fn error(path: &Path, format: Format, message: &str) -> Result<()> {
    let time = rfc3339_now();
    let line = match format {
        Format::Json => {
            serde_json::json!({"level": "error", "msg": message, "time": time}).to_string()
        }
        Format::Text => format!("time={time:?} level=error msg={message:?}"),
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("open log {}", path.display()))?;
    writeln!(file, "{line}").with_context(|| format!("write log {}", path.display()))
}

/// Now, in UTC, as `2026-12-02T19:30:00Z`.
fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_423), (2025, 12, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn json_lines_are_what_containerd_reads() {
        let path = std::env::temp_dir().join(format!("tincan-log-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        error(&path, Format::Json, "container \"x\" is not running").expect("log");
        let text = std::fs::read_to_string(&path).expect("read");
        let _ = std::fs::remove_file(&path);
        let line: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(line["level"], "error");
        assert_eq!(line["msg"], "container \"x\" is not running");
        assert!(line["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
}
