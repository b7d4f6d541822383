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

/// Now, in UTC, as `2026-12-02T19:30:00Z` (RFC 3339, as logrus writes it).
fn rfc3339_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

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
