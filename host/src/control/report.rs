//! Control replies as text for the terminal (`--json` prints them raw).

use std::fmt::Write as _;
use std::time::Duration;

use super::protocol::{
    ChangeReport, HistoryReport, LogsReport, ShadowStats, StatusReport, VersionInfo,
};
use crate::time::BatchTime;

fn time(ms: i64) -> String {
    BatchTime(ms).python_str()
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

fn version_line(v: &VersionInfo) -> String {
    let mut line = format!(
        "v{} {} (sha256 {}, from {})",
        v.version,
        v.plugin,
        short(&v.sha256),
        v.origin
    );
    match v.first_batch {
        Some(first) => {
            let _ = write!(
                line,
                ", first batch {}, {} batches, {} failed",
                time(first),
                v.batches,
                v.failed_batches
            );
        }
        None => line.push_str(", no batch yet"),
    }
    line
}

fn shadow_line(stats: &ShadowStats) -> String {
    let ratio = if stats.current_time_ms > 0.0 {
        format!("{:.2}x", stats.time_ms / stats.current_time_ms)
    } else {
        "n/a".into()
    };
    let mut line = format!(
        "{} batches compared: output differed in {} ({} of {} calls), {} failed calls, call time {ratio} the current version's",
        stats.batches,
        stats.differing_batches,
        stats.differing_calls,
        stats.calls,
        stats.failed_calls
    );
    if let Some(error) = &stats.last_error {
        let _ = write!(line, "\n      last error: {error}");
    }
    line
}

/// `1200 lines from 3 files; 2 lines over max_line_bytes, 1 unreadable files skipped`.
fn source_line(stats: &crate::source::SourceStats) -> String {
    let mut line = format!("{} lines", stats.lines);
    if stats.files > 0 {
        let _ = write!(line, " from {} files", stats.files);
    }
    if stats.held_bytes > 0 {
        let _ = write!(
            line,
            ", {:.1} MiB held for the last batch",
            stats.held_bytes as f64 / f64::from(1 << 20)
        );
    }
    if stats.lag > 0 {
        let _ = write!(line, ", {} records behind", stats.lag);
    }
    if stats.rate_limit > 0 {
        let _ = write!(line, ", reading at most {} lines/s", stats.rate_limit);
    }
    let problems: Vec<String> = [
        (stats.replaced_lines, "lines with invalid UTF-8 replaced"),
        (stats.skipped_lines, "lines with invalid UTF-8 skipped"),
        (stats.long_lines, "lines over max_line_bytes"),
        (stats.unreadable_files, "unreadable files skipped"),
        (stats.vanished_files, "files vanished before read"),
        (stats.special_files, "special files skipped"),
        (stats.buffer_full, "pauses with a full buffer"),
    ]
    .iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, what)| format!("{count} {what}"))
    .collect();
    if !problems.is_empty() {
        let _ = write!(line, "; {}", problems.join(", "));
    }
    line
}

/// The text of `sluice status`.
pub fn status(report: &StatusReport) -> String {
    let mut out = String::new();
    let uptime = humantime::format_duration(Duration::from_secs(report.uptime_ms / 1000));
    let _ = writeln!(
        out,
        "pipeline {} (pid {}): up {uptime}, batch interval {} ms",
        report.pipeline, report.pid, report.batch_interval_ms
    );
    let _ = writeln!(
        out,
        "  batches: {} done, last {}, running {}",
        report.batches,
        report.last_batch.map_or_else(|| "none".into(), time),
        report.running_batch.map_or_else(|| "none".into(), time)
    );
    let _ = writeln!(out, "  input records: {}", report.input_records);
    let _ = writeln!(
        out,
        "  scheduling delay {:.1} ms (max {:.1} ms), processing {:.1} ms (max {:.1} ms)",
        report.scheduling_delay_ms,
        report.max_scheduling_delay_ms,
        report.processing_ms,
        report.max_processing_ms
    );
    if let Some(checkpoint) = &report.checkpoint {
        let _ = writeln!(
            out,
            "  checkpoint: batch {}, {:.1} MiB written in {:.1} ms, in {}",
            time(checkpoint.batch_time),
            checkpoint.bytes as f64 / f64::from(1 << 20),
            checkpoint.write_ms,
            checkpoint.dir
        );
    }
    let held: u64 = report.sources.iter().map(|s| s.stats.held_bytes).sum();
    let _ = writeln!(
        out,
        "  sources held {:.1} MiB for the last batch, of source_memory_mib = {}",
        held as f64 / f64::from(1 << 20),
        report.source_memory_bytes >> 20
    );
    for source in &report.sources {
        let _ = writeln!(
            out,
            "source {}: {}",
            source.source,
            source_line(&source.stats)
        );
        for p in &source.partitions {
            let _ = writeln!(
                out,
                "  topic {} partition {}: offset {}, lag {}",
                p.topic, p.partition, p.offset, p.lag
            );
        }
    }
    for window in &report.windows {
        let _ = writeln!(
            out,
            "window {}: {} batches, {} records, {:.1} MiB held",
            window.stream,
            window.size.batches,
            window.size.records,
            window.size.bytes as f64 / f64::from(1 << 20)
        );
    }
    for state in &report.states {
        let _ = writeln!(
            out,
            "state {}: {} keys, {:.1} MiB held",
            state.stream,
            state.size.keys,
            state.size.bytes as f64 / f64::from(1 << 20)
        );
    }
    for stream in &report.streams {
        let _ = writeln!(
            out,
            "stream {} ({}): {}",
            stream.stream,
            stream.op,
            version_line(&stream.current)
        );
        let rollback = match stream.rollback_to {
            Some(v) => format!("can roll back to v{v}"),
            None => "no previous version".into(),
        };
        let automatic = if stream.rollback_after == 0 {
            "no automatic rollback".to_owned()
        } else {
            format!(
                "automatic rollback after {} consecutive failing batches ({} now)",
                stream.rollback_after, stream.consecutive_failures
            )
        };
        let _ = writeln!(out, "  {rollback}; {automatic}");
        if let Some(shadow) = &stream.shadow {
            let _ = writeln!(
                out,
                "  shadow v{} {} (sha256 {}): {}",
                shadow.version,
                shadow.plugin,
                short(&shadow.sha256),
                shadow_line(&shadow.shadow.clone().unwrap_or_default())
            );
        }
    }
    out
}

/// `sluice history STREAM`.
pub fn history(report: &HistoryReport) -> String {
    let mut out = format!(
        "stream {}: {} versions\n",
        report.stream,
        report.versions.len()
    );
    for v in &report.versions {
        let _ = writeln!(out, "  {:<9} {}", v.state, version_line(v));
        if let Some(stats) = &v.shadow {
            let _ = writeln!(out, "            shadow: {}", shadow_line(stats));
        }
    }
    out.push_str("events:\n");
    for event in &report.events {
        let _ = writeln!(out, "  {}  {}", time(event.at), event.message);
    }
    out
}

/// `sluice deploy`, `rollback`, `promote`, `discard`.
pub fn change(report: &ChangeReport) -> String {
    let mut out = format!("stream {}: {}\n", report.stream, report.message);
    if let Some(first) = &report.first_batch {
        let _ = writeln!(
            out,
            "first batch on v{}: {} ({}), {:.0} ms after the change, processed in {:.1} ms",
            report.version.version,
            time(first.batch_time),
            if first.ok { "ok" } else { "with failures" },
            first.after_ms,
            first.processing_ms
        );
    }
    out
}

/// `sluice logs`: every line a plugin printed, prefixed with its batch
/// time, stream, partition and output, e.g.
/// `2026-12-01 15:20:00 words[0] stderr: saw 12 records`.
pub fn logs(report: &LogsReport) -> String {
    let mut text = String::new();
    for entry in &report.entries {
        let shadow = if entry.shadow { " shadow" } else { "" };
        let attempt = if entry.attempt > 1 {
            format!(" attempt {}", entry.attempt)
        } else {
            String::new()
        };
        for line in entry.text.lines() {
            let _ = writeln!(
                text,
                "{} {}[{}]{shadow}{attempt} {}: {line}",
                time(entry.batch_time),
                entry.stream,
                entry.partition,
                entry.output
            );
        }
    }
    text
}
