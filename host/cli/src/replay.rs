//! `sluice replay`: one stream of a kept batch run again, each call's
//! output compared with the one the batch gave, and the differences shown
//! record by record.

use std::collections::BTreeMap;

use anyhow::Context as _;
use sluice::batch::{Batch, RecordType};
use sluice::executor::replay::{Replay, ReplayedCall};
use sluice::pipeline::{self, PipelineOptions};
use sluice::time::BatchTime;

use crate::cli::ReplayArgs;

/// The most differing records shown per call, each way.
const MAX_DIFF_LINES: usize = 50;

/// Runs `sluice replay`; an error when an output differs.
pub fn run(args: &ReplayArgs, options: &PipelineOptions) -> anyhow::Result<()> {
    let batch_time = BatchTime::parse(&args.batch).with_context(|| {
        format!(
            "`--batch {}` is not a batch time: give it as printed (`2026-12-01 15:20:00`) or in milliseconds since the epoch",
            args.batch
        )
    })?;
    let (engine, plan) = pipeline::load(&args.pipeline.pipeline, options)?;
    let replay = sluice::executor::replay::replay(
        &plan,
        &engine,
        &args.stream,
        batch_time,
        args.plugin.as_deref(),
    )?;
    let output_type = plan
        .streams
        .iter()
        .find(|s| s.name == args.stream)
        .map(|s| s.output_type)
        .context("the stream vanished from the plan")?;
    let mut out = String::new();
    header(&mut out, &args.stream, batch_time, &replay);
    for call in &replay.calls {
        describe(&mut out, call, output_type, args.print);
    }
    let differing = replay.calls.iter().filter(|c| !c.identical).count();
    let records: usize = replay.calls.iter().map(|c| c.kept.len()).sum();
    if differing == 0 {
        out.push_str(&format!(
            "same output as the batch: {} calls, {records} records, byte for byte\n",
            replay.calls.len()
        ));
        print!("{out}");
        Ok(())
    } else {
        print!("{out}");
        anyhow::bail!(
            "the replay's output differs from the batch's in {differing} of {} calls",
            replay.calls.len()
        )
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

fn header(out: &mut String, stream: &str, batch_time: BatchTime, replay: &Replay) {
    let kept = &replay.kept_version;
    let (plugin, hash) = &replay.plugin;
    let same = if *hash == kept.hash {
        "the version that ran"
    } else {
        "another component"
    };
    out.push_str(&format!(
        "stream `{stream}`, batch {batch_time}: ran {} v{} (sha256 {}); replayed with {plugin} (sha256 {}, {same})\n",
        kept.plugin,
        kept.version,
        short(&kept.hash),
        short(hash),
    ));
}

/// Python's `repr` of each record of `batch`.
fn rendered(batch: &Batch, record_type: RecordType) -> Vec<String> {
    (0..batch.len())
        .map(|i| {
            let mut line = String::new();
            sluice::render::python_record(&mut line, batch, i, record_type.key, record_type.value);
            line
        })
        .collect()
}

fn describe(out: &mut String, call: &ReplayedCall, record_type: RecordType, print: bool) {
    let phase = call
        .phase
        .name()
        .map_or_else(String::new, |name| format!(" ({name})"));
    let place = format!(
        "partition {}{phase}: {} records in, {} out",
        call.partition,
        call.input.len(),
        call.kept.len()
    );
    let replayed = match &call.replayed {
        Ok(replayed) => replayed,
        Err(error) => {
            out.push_str(&format!("{place}: the replay failed: {error}\n"));
            return;
        }
    };
    if call.identical {
        out.push_str(&format!("{place}: identical, byte for byte\n"));
    } else {
        let (only_kept, only_replayed) = difference(
            &rendered(&call.kept, record_type),
            &rendered(replayed, record_type),
        );
        if only_kept.is_empty() && only_replayed.is_empty() {
            out.push_str(&format!(
                "{place}: the same records in another order ({} now)\n",
                replayed.len()
            ));
        } else {
            out.push_str(&format!(
                "{place}: differs: {} records only in the batch's output, {} only in the replay's ({} now)\n",
                only_kept.len(),
                only_replayed.len(),
                replayed.len()
            ));
            for (sign, lines) in [("-", &only_kept), ("+", &only_replayed)] {
                for line in lines.iter().take(MAX_DIFF_LINES) {
                    out.push_str(&format!("  {sign} {line}\n"));
                }
                if lines.len() > MAX_DIFF_LINES {
                    out.push_str(&format!(
                        "  {sign} … {} more\n",
                        lines.len() - MAX_DIFF_LINES
                    ));
                }
            }
        }
    }
    if print {
        for line in rendered(replayed, record_type) {
            out.push_str(&format!("  {line}\n"));
        }
    }
}

/// The records only in `kept` and only in `replayed`, counted as
/// multisets, each sorted.
fn difference(kept: &[String], replayed: &[String]) -> (Vec<String>, Vec<String>) {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for line in kept {
        *counts.entry(line).or_default() += 1;
    }
    for line in replayed {
        *counts.entry(line).or_default() -= 1;
    }
    let mut only_kept = Vec::new();
    let mut only_replayed = Vec::new();
    for (line, count) in counts {
        let copies = std::iter::repeat_n(line.to_owned(), count.unsigned_abs() as usize);
        if count > 0 {
            only_kept.extend(copies);
        } else {
            only_replayed.extend(copies);
        }
    }
    (only_kept, only_replayed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_difference_counts_copies() {
        let kept = ["'a'", "'a'", "'b'"].map(String::from);
        let replayed = ["'a'", "'c'", "'b'"].map(String::from);
        assert_eq!(
            difference(&kept, &replayed),
            (vec!["'a'".to_owned()], vec!["'c'".to_owned()])
        );
    }
}
