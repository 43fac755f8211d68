//! The `sluice` binary: parses the command line, sets up logging and the
//! runtime, and calls the library.

mod cli;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use cli::{Cli, Command, PipelineArgs, PluginCommand};
use sluice::pipeline::{self, PipelineOptions};
use sluice::plugin::PluginEngine;
use sluice::plugin::engine::EngineSettings;
use sluice::scheduler::StopConditions;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match execute(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn options(args: &PipelineArgs) -> PipelineOptions {
    PipelineOptions {
        partitions: args.partitions,
        cache_dir: args.cache_dir.clone(),
        no_cache: args.no_cache,
        ..PipelineOptions::default()
    }
}

fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(async {
                let (stop_sender, stop_receiver) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    wait_for_signal().await;
                    let _ = stop_sender.send(true);
                });
                let stop = StopConditions {
                    max_batches: args.max_batches,
                    stop_when_idle: args.stop_when_idle,
                };
                pipeline::run(
                    &args.pipeline.pipeline,
                    &options(&args.pipeline),
                    stop,
                    stop_receiver,
                )
                .await
                .map(drop)
            })?;
        }
        Command::Check(args) => {
            let (_, plan) = pipeline::load(&args.pipeline, &options(&args))?;
            println!(
                "{}: ok ({} sources, {} streams, {} sinks, {} partitions)",
                args.pipeline.display(),
                plan.sources.len(),
                plan.streams.len(),
                plan.sinks.len(),
                plan.partitions
            );
            for stream in &plan.streams {
                println!(
                    "  stream {}: {} {} ({}) {} -> {}",
                    stream.name,
                    stream.op,
                    stream.plugin.name(),
                    &stream.plugin.hash()[..12],
                    stream.input_type,
                    stream.output_type
                );
            }
        }
        Command::Plugin(PluginCommand::Inspect { file, cache_dir }) => {
            let mut settings = EngineSettings::default();
            if let Some(dir) = cache_dir {
                settings.cache_dir = Some(dir);
            }
            let engine = PluginEngine::new(&settings)?;
            let inspection = sluice::plugin::inspect::inspect(&engine, &file)?;
            print!("{}", inspection.report);
            if !inspection.allowed {
                anyhow::bail!("{} is refused (see the verdict above)", file.display());
            }
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => Some(signal),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                None
            }
        };
    let term = async {
        match &mut terminate {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: finishing the current batch"),
        () = term => tracing::info!("SIGTERM: finishing the current batch"),
    }
}
