//! The `sluice` binary: parses the command line, sets up logging and the
//! runtime, and calls the library.

mod cli;
mod progress;
mod replay;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;
use cli::{Cli, Command, ControlArgs, LogsArgs, PipelineArgs, PluginCommand};
use sluice::control::client::{self, Endpoint};
use sluice::control::protocol::{Reply, Request};
use sluice::pipeline::{self, PipelineOptions};
use sluice::plugin::PluginEngine;
use sluice::plugin::compile::{self, CompileIsolation};
use sluice::plugin::engine::EngineSettings;
use sluice::scheduler::{Shutdown, StopConditions};
use sluice::time::BatchTime;

fn main() -> ExitCode {
    cap_malloc_arenas();
    // The compile child (see `sluice::plugin::compile`): no CLI, no logs.
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|a| a == compile::CHILD_COMMAND) {
        let request = args.next().unwrap_or_default();
        let code = compile::child_main(&request.to_string_lossy());
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let cli = Cli::parse();
    progress::init_logging(&cli.log);
    match execute(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit_code(&e)
        }
    }
}

/// Caps glibc's malloc arenas at one per core (its default allows eight
/// per core): the workers' large, short-lived columns otherwise leave
/// freed memory in more arenas than there are workers to reuse it
/// (measured on 2 cores, 10 MB/s of text in 1 s batches: peak RSS
/// 153–161 → 135–143 MiB; a 200 MB backlog 434 → 420 MiB, but with more
/// page faults there, as freed columns go back to the kernel sooner:
/// 110 k → 110–200 k, a few per cent of its time). A `MALLOC_ARENA_MAX`
/// set in the environment still decides. Runs first, before any other
/// thread exists.
fn cap_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: `mallopt` only sets one of malloc's tunables, and no
        // other thread is running yet to allocate meanwhile.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// The exit status for `error`: by its kind when the library failed (2 the
/// user's, 3 the environment's, 4 a bug; see `ErrorKind::exit_code`), else
/// 1 (bad arguments, a refused control request, a failed plugin build).
fn exit_code(error: &anyhow::Error) -> ExitCode {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<sluice::Error>())
        .map_or(ExitCode::FAILURE, |e| ExitCode::from(e.kind().exit_code()))
}

/// Builds the project in `dir`, saying so on stderr.
fn build_plugin(dir: &std::path::Path) -> anyhow::Result<sluice_plugin_build::Built> {
    let built = {
        let _building = tracing::info_span!(progress::BUILDING, dir = %dir.display()).entered();
        sluice_plugin_build::build(dir)?
    };
    eprintln!(
        "built {} plugin in {:.1?}",
        built.language.name(),
        built.elapsed
    );
    Ok(built)
}

fn options(args: &PipelineArgs) -> PipelineOptions {
    PipelineOptions {
        partitions: args.partitions,
        cache_dir: args.cache_dir.clone(),
        no_cache: args.no_cache,
        compile: compile_isolation(),
        ..PipelineOptions::default()
    }
}

/// Plugins are compiled in a child process of this binary, within the
/// compile limits.
fn compile_isolation() -> CompileIsolation {
    match std::env::current_exe() {
        Ok(program) => CompileIsolation::ChildProcess(program),
        Err(e) => {
            tracing::warn!(error = %e, "cannot find this program's path: plugins are compiled in this process, without compile_time and compile_memory_mib");
            CompileIsolation::InProcess
        }
    }
}

/// The engine of `plugin inspect` and `plugin test`.
fn engine_settings(cache_dir: Option<PathBuf>) -> EngineSettings {
    let mut settings = EngineSettings {
        compile: compile_isolation(),
        ..EngineSettings::default()
    };
    if let Some(dir) = cache_dir {
        settings.cache_dir = Some(dir);
    }
    settings
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
                let shutdown = Arc::new(tokio::sync::watch::Sender::new(Shutdown::Running));
                let signalled = shutdown.clone();
                tokio::spawn(async move {
                    let mut terminate = listen_for_sigterm();
                    // The first signal stops gracefully, the next at once.
                    loop {
                        let signal = wait_for_signal(&mut terminate).await;
                        // (The value's lock is let go before asking.)
                        let next = signalled.borrow().next();
                        match next.request(&signalled) {
                            Shutdown::Graceful => tracing::info!("{signal}: stopping gracefully; {signal} again stops after the current batch"),
                            _ => tracing::info!("{signal}: stopping after the current batch"),
                        }
                    }
                });
                let stop = StopConditions {
                    max_batches: args.max_batches,
                    stop_when_idle: args.stop_when_idle,
                };
                let options = PipelineOptions {
                    watch: args.watch,
                    fresh: args.fresh,
                    ..options(&args.pipeline)
                };
                pipeline::run(&args.pipeline.pipeline, &options, stop, shutdown)
                    .await
                    .map(drop)
            })?;
        }
        Command::Check(args) => {
            let (_, plan) = pipeline::load(&args.pipeline, &options(&args))?;
            println!(
                "{}: ok ({} sources, {} streams, {} sinks, {})",
                args.pipeline.display(),
                plan.sources.len(),
                plan.streams.len(),
                plan.sinks.len(),
                plan.partitioning
            );
            for stream in &plan.streams {
                let mut window = stream.window.map_or_else(String::new, |w| {
                    format!(
                        ", window {} sliding every {}",
                        humantime::format_duration(w.length),
                        humantime::format_duration(w.slide)
                    )
                });
                if stream.inverse.is_some() {
                    window.push_str(if stream.incremental() {
                        ", kept incrementally with its inverse"
                    } else {
                        ", combined again at each slide (the inverse is used from 5 slides on, as in PySpark)"
                    });
                }
                if let Some(state) = &stream.state {
                    window.push_str(&format!(
                        ", {} state per key{}",
                        state.record_type.value.name(),
                        state
                            .initial
                            .as_ref()
                            .map_or_else(String::new, |i| format!(", {} initial keys", i.len()))
                    ));
                }
                let input = if stream.inputs.len() > 1 {
                    stream
                        .inputs
                        .iter()
                        .map(|&node| format!("{} {}", plan.node_name(node), plan.node_type(node)))
                        .collect::<Vec<_>>()
                        .join(" + ")
                } else {
                    stream.input_type.to_string()
                };
                println!(
                    "  stream {}: {} {} ({}) {input} -> {}{window}",
                    stream.name,
                    stream.op.name(),
                    stream.implementation_name(),
                    &stream.implementation_hash()[..stream.implementation_hash().len().min(12)],
                    stream.output_type
                );
            }
            for sink in &plan.sinks {
                if let sluice::plan::SinkSpecKind::Plugin { plugin, .. } = &sink.kind {
                    println!(
                        "  sink {}: plugin {} ({}) takes {}, may reach {}",
                        sink.name,
                        plugin.name(),
                        &plugin.hash()[..plugin.hash().len().min(12)],
                        plugin.record_type(),
                        plugin.allowance().describe()
                    );
                }
            }
            for table in &plan.tables {
                let spec = table.spec();
                println!(
                    "  table {}: {} records {} from {}",
                    spec.name,
                    table.records().iter().map(|b| b.len()).sum::<usize>(),
                    spec.record_type,
                    spec.path.display()
                );
            }
        }
        Command::Plugin(PluginCommand::Inspect { file, cache_dir }) => {
            let engine = PluginEngine::new(&engine_settings(cache_dir))?;
            let inspection = sluice::plugin::inspect::inspect(&engine, &file)?;
            print!("{}", inspection.report);
            if !inspection.allowed {
                anyhow::bail!("{} is refused (see the verdict above)", file.display());
            }
        }
        Command::Plugin(PluginCommand::New {
            name,
            lang,
            op,
            dir,
            rust_sdk,
        }) => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let rust_sdk = rust_sdk.unwrap_or_else(sluice_plugin_build::scaffold::default_rust_sdk);
            let files = sluice_plugin_build::scaffold::create(&dir, &name, lang, op, &rust_sdk)?;
            println!(
                "created {} `{}` plugin {name} in {}:",
                lang.name(),
                op.op_name(),
                dir.display()
            );
            for file in files {
                println!("  {}", file.display());
            }
            println!(
                "next: sluice plugin test {0}   (builds it and runs sluice-test.toml)\n      sluice plugin build {0}  (prints the component's path)",
                dir.display()
            );
        }
        Command::Plugin(PluginCommand::Build { dir }) => {
            let built = build_plugin(&dir)?;
            println!("{}", built.component.display());
        }
        Command::Plugin(PluginCommand::Test { dir, cache_dir }) => {
            let built = build_plugin(&dir)?;
            let engine = PluginEngine::new(&engine_settings(cache_dir))?;
            let report = sluice_plugin_build::testing::run(&engine, &dir, &built.component)?;
            print!("{}", report.text);
            println!("{} passed, {} failed", report.passed, report.failed);
            if report.failed > 0 {
                anyhow::bail!(
                    "{} of {} cases failed",
                    report.failed,
                    report.passed + report.failed
                );
            }
        }
        Command::Deploy(args) => {
            let bytes = sluice::regular_file::read_bounded(&args.file, MAX_DEPLOY_BYTES)
                .with_context(|| format!("cannot deploy {}", args.file.display()))?;
            let file_name = args.file.file_name().map_or_else(
                || "plugin.wasm".into(),
                |n| n.to_string_lossy().into_owned(),
            );
            let request = Request::Deploy {
                stream: args.stream,
                file_name,
                size: bytes.len() as u64,
                shadow: args.shadow,
                wait: !args.no_wait,
            };
            control(&args.target, request, &bytes)?;
        }
        Command::Status(args) => control(&args.target, Request::Status, &[])?,
        Command::Logs(args) => logs(&args)?,
        Command::Replay(args) => replay::run(&args, &options(&args.pipeline))?,
        Command::History(args) => control(
            &args.target,
            Request::History {
                stream: args.stream,
            },
            &[],
        )?,
        Command::Rollback(args) => control(
            &args.target,
            Request::Rollback {
                stream: args.stream,
                wait: !args.no_wait,
            },
            &[],
        )?,
        Command::Promote(args) => control(
            &args.target,
            Request::Promote {
                stream: args.stream,
                wait: !args.no_wait,
            },
            &[],
        )?,
        Command::Discard(args) => control(
            &args.target,
            Request::Discard {
                stream: args.stream,
            },
            &[],
        )?,
        Command::Stop(args) => control(
            &args.target,
            Request::Stop {
                graceful: args.graceful,
            },
            &[],
        )?,
    }
    Ok(())
}

/// The largest component `sluice deploy` sends: the largest `binary_mib`
/// a pipeline may set (the pipeline applies the stream's own limit).
const MAX_DEPLOY_BYTES: u64 = sluice::bounds::binary_mib::MAX as u64 * 1024 * 1024;

/// Sends `request` to the pipeline `target` names and prints the reply.
fn control(target: &ControlArgs, request: Request, payload: &[u8]) -> anyhow::Result<()> {
    let endpoint = endpoint(target)?;
    let reply = client::send(&endpoint, request, payload)?;
    if target.json {
        println!("{}", serde_json::to_string_pretty(&reply)?);
        return Ok(());
    }
    let text = match &reply {
        Reply::Status(report) => sluice::control::report::status(report),
        Reply::History(report) => sluice::control::report::history(report),
        Reply::Changed(report) => sluice::control::report::change(report),
        Reply::Stopping(report) => format!("{}\n", report.message),
        Reply::Logs(report) => sluice::control::report::logs(report),
    };
    print!("{text}");
    Ok(())
}

/// The control endpoint `target` names.
fn endpoint(target: &ControlArgs) -> anyhow::Result<Endpoint> {
    let token = match &target.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => std::env::var("SLUICE_CONTROL_TOKEN").ok(),
    };
    Ok(match (&target.control, &target.pipeline) {
        (Some(control), _) => Endpoint::parse(control, token),
        (None, Some(pipeline)) => Endpoint::of_pipeline(pipeline)?,
        (None, None) => anyhow::bail!(
            "which pipeline? pass its file with --pipeline FILE, or its control endpoint with --control SOCKET (or tcp://HOST:PORT)"
        ),
    })
}

/// How often `sluice logs --follow` asks for new output.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// `sluice logs`: what plugins printed, once or (`--follow`) until the
/// pipeline stops.
fn logs(args: &LogsArgs) -> anyhow::Result<()> {
    let endpoint = endpoint(&args.target)?;
    let batch_time = match &args.batch {
        Some(text) => Some(
            BatchTime::parse(text)
                .with_context(|| format!("`--batch {text}` is not a batch time: give it as printed (`2026-12-01 15:20:00`) or in milliseconds since the epoch"))?
                .0,
        ),
        None => None,
    };
    let mut after = None;
    let mut answered = false;
    let mut out = std::io::stdout().lock();
    loop {
        let request = Request::Logs {
            stream: args.stream.clone(),
            batch_time,
            after,
        };
        let reply = match client::send(&endpoint, request, &[]) {
            Ok(reply) => reply,
            // The pipeline stopped while followed: what it printed was shown.
            Err(_) if answered => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let Reply::Logs(report) = reply else {
            anyhow::bail!("the pipeline answered `logs` with another reply");
        };
        if args.target.json {
            for entry in &report.entries {
                writeln!(out, "{}", serde_json::to_string(entry)?)?;
            }
        } else {
            write!(out, "{}", sluice::control::report::logs(&report))?;
        }
        out.flush()?;
        if let Some(last) = report.entries.last() {
            after = Some(last.seq);
        }
        answered = true;
        if !args.follow {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

/// SIGTERM's stream, if the process can listen for it.
fn listen_for_sigterm() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for SIGTERM"))
        .ok()
}

/// Resolves on Ctrl-C or SIGTERM, with the signal's name.
async fn wait_for_signal(terminate: &mut Option<tokio::signal::unix::Signal>) -> &'static str {
    let term = async {
        match terminate {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        () = term => "SIGTERM",
    }
}
