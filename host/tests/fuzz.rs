//! Property test: generated and mutated components, and random batches,
//! thrown at loading and calling for a bounded time. Whatever comes in, the
//! host returns a result (loaded or refused, output or classified error);
//! it never panics, and every output it returns passed its checks.
//!
//! The budget is `SLUICE_FUZZ_SECONDS` (default 30) split over the three
//! phases; the seed is `SLUICE_FUZZ_SEED` (default: fixed), printed so that a
//! failure can be replayed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use sluice::batch::{Batch, Column, RecordType, ValueType, Varlen};
use sluice::plugin::engine::EngineSettings;
use sluice::plugin::error::{CallSite, Phase};
use sluice::plugin::{Limits, OperatorKind, Plugin, PluginEngine};
use sluice::time::BatchTime;
use sluice_test_fixtures as fixtures;

fn budget() -> Duration {
    fixtures::fuzz_budget()
}

fn rng() -> fastrand::Rng {
    fastrand::Rng::with_seed(fixtures::fuzz_seed())
}

fn engine() -> PluginEngine {
    PluginEngine::new(&EngineSettings {
        cache_dir: None,
        max_memory_mib: 64,
        stack_kib: 256,
        max_instances: 16,
        fuel: false,
        unlimited_for_benchmarks: false,
        ..EngineSettings::default()
    })
    .unwrap()
}

fn limits() -> Limits {
    Limits {
        call_time: Duration::from_millis(500),
        memory_mib: 64,
        output_mib: 8,
        ..Limits::default()
    }
}

fn site() -> CallSite {
    CallSite {
        pipeline: "fuzz".into(),
        stream: "s".into(),
        plugin: "p".into(),
        hash: "0".repeat(64),
        batch_time: BatchTime(1_700_000_000_000),
        partition: 0,
        phase: Phase::Only,
        shadow: false,
        attempt: 1,
    }
}

/// Random text: ASCII words, multi-byte characters, controls, empty values.
fn random_text(rng: &mut fastrand::Rng) -> String {
    const PIECES: [&str; 12] = [
        "word", " ", "\t", "été", "日本", "🦀", "\u{0}", "a b c", "", "\n", "x", "poison",
    ];
    (0..rng.usize(0..12))
        .map(|_| PIECES[rng.usize(..PIECES.len())])
        .collect()
}

fn random_column(rng: &mut fastrand::Rng, value_type: ValueType, n: usize) -> Column {
    match value_type {
        ValueType::Int64 => Column::Int64(
            (0..n)
                .map(|_| match rng.u8(..4) {
                    0 => i64::MAX,
                    1 => i64::MIN,
                    _ => rng.i64(-1000..1000),
                })
                .collect(),
        ),
        ValueType::Float64 => Column::Float64(
            (0..n)
                .map(|_| match rng.u8(..4) {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    _ => rng.f64() * 1e6,
                })
                .collect(),
        ),
        // Plugins take and give the contract's types only; composite
        // values reach them as JSON.
        ValueType::Json | ValueType::Composite(_) => {
            let mut column = Varlen::with_capacity(n, n * 8);
            for _ in 0..n {
                let value = serde_json::json!({ "text": random_text(rng), "n": rng.i32(..) });
                column.push(value.to_string().as_bytes());
            }
            Column::Varlen(column)
        }
        ValueType::Text | ValueType::Bytes => {
            let mut column = Varlen::with_capacity(n, n * 8);
            for _ in 0..n {
                column.push(random_text(rng).as_bytes());
            }
            Column::Varlen(column)
        }
    }
}

fn random_batch(rng: &mut fastrand::Rng, record_type: RecordType) -> Batch {
    let n = match rng.u8(..10) {
        0 => 0,
        1 => rng.usize(1000..5000),
        _ => rng.usize(1..100),
    };
    Batch {
        keys: record_type.key.map(|k| random_column(rng, k, n)),
        values: random_column(rng, record_type.value, n),
    }
}

/// What `plugin` takes, with a concrete key for reducers ("any key").
fn input_type(plugin: &Plugin, rng: &mut fastrand::Rng) -> RecordType {
    let mut input = plugin.signature().input;
    if plugin.kind() == OperatorKind::ReduceByKey && input.key.is_none() {
        input.key = Some(if rng.bool() {
            ValueType::Text
        } else {
            ValueType::Int64
        });
    }
    input
}

/// Calls `plugin` on one random batch of the type it takes; any output it
/// returns must have the declared type.
fn call_once(
    engine: &PluginEngine,
    plugin: &Plugin,
    rng: &mut fastrand::Rng,
) -> (Batch, Result<Batch, sluice::Error>) {
    let input_type = input_type(plugin, rng);
    let output_type = match plugin.kind() {
        OperatorKind::ReduceByKey | OperatorKind::Filter => input_type,
        _ => plugin.signature().output,
    };
    let input = random_batch(rng, input_type);
    let result = plugin
        .call(engine, &input, output_type, &site())
        .map_err(sluice::Error::from);
    if let Ok(output) = &result {
        output.validate(output_type).unwrap();
    }
    (input, result)
}

/// Calls `plugin` on a few random batches; every outcome is acceptable
/// except a panic, and any output must have the declared type.
fn call_randomly(engine: &PluginEngine, plugin: &Plugin, rng: &mut fastrand::Rng, calls: usize) {
    for _ in 0..calls {
        let _outcome = call_once(engine, plugin, rng);
    }
}

/// Whether some record of `batch` is exactly `word`.
fn has_record(batch: &Batch, word: &str) -> bool {
    match &batch.values {
        Column::Varlen(values) => (0..values.len()).any(|i| values.get(i) == word.as_bytes()),
        _ => false,
    }
}

fn load(engine: &PluginEngine, dir: &Path, bytes: &[u8]) -> Option<Plugin> {
    let path = dir.join("candidate.wasm");
    std::fs::write(&path, bytes).unwrap();
    engine.load(&path, None, Vec::new(), limits()).ok()
}

/// Applies one random mutation to `bytes`.
fn mutate(rng: &mut fastrand::Rng, bytes: &mut Vec<u8>) {
    let len = bytes.len().max(1);
    match rng.u8(..6) {
        0 => {
            for _ in 0..rng.usize(1..8) {
                let i = rng.usize(..len).min(bytes.len().saturating_sub(1));
                if let Some(b) = bytes.get_mut(i) {
                    *b ^= 1 << rng.u8(..8);
                }
            }
        }
        1 => bytes.truncate(rng.usize(..len)),
        2 => {
            let at = rng.usize(..=bytes.len());
            let noise: Vec<u8> = (0..rng.usize(1..64)).map(|_| rng.u8(..)).collect();
            bytes.splice(at..at, noise);
        }
        3 => {
            let start = rng.usize(..len).min(bytes.len());
            let end = (start + rng.usize(1..256)).min(bytes.len());
            bytes.drain(start..end);
        }
        4 => {
            let start = rng.usize(..len).min(bytes.len());
            let end = (start + rng.usize(1..256)).min(bytes.len());
            let copy = bytes[start..end].to_vec();
            let at = rng.usize(..=bytes.len());
            bytes.splice(at..at, copy);
        }
        _ => {
            // Rewrite a LEB128-looking length byte.
            let i = rng.usize(..len).min(bytes.len().saturating_sub(1));
            if let Some(b) = bytes.get_mut(i) {
                *b = rng.u8(..);
            }
        }
    }
}

/// A component holding `module` as its only core module, wrapped by hand:
/// the component header, then a core-module section (id 1).
fn wrap_in_component(module: &[u8]) -> Vec<u8> {
    let mut out = b"\0asm\x0d\0\x01\0".to_vec();
    out.push(1);
    let mut size = module.len();
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        if size == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(module);
    out
}

#[test]
fn the_host_never_panics_on_generated_mutated_components_or_random_batches() {
    let phase = budget() / 3;
    let mut rng = rng();
    let engine = engine();
    let dir = tempfile::tempdir().unwrap();
    let originals: Vec<Vec<u8>> = [
        fixtures::SPLIT_WORDS,
        fixtures::WORD_PAIR,
        fixtures::SUM,
        fixtures::MIN_LENGTH,
        fixtures::REJECT_WORD,
    ]
    .iter()
    .map(|p| std::fs::read(p).unwrap())
    .collect();

    // 1. Random batches, valid by type, through the real plugins. Each
    //    accepts every input but reject-word (the last), which fails exactly
    //    when a record is `poison`, blaming it.
    let plugins: Vec<Plugin> = originals
        .iter()
        .map(|bytes| load(&engine, dir.path(), bytes).expect("the real plugins load"))
        .collect();
    let started = Instant::now();
    let (mut batches, mut rejected) = (0, 0);
    while started.elapsed() < phase {
        let index = rng.usize(..plugins.len());
        let (input, result) = call_once(&engine, &plugins[index], &mut rng);
        let poisoned = index == plugins.len() - 1 && has_record(&input, "poison");
        match result {
            Ok(_) => assert!(!poisoned, "reject-word accepted `poison`"),
            Err(e) => {
                assert!(poisoned, "plugin {index} failed on valid input: {e}");
                assert!(e.to_string().contains(r#"refusing "poison""#), "{e}");
                rejected += 1;
            }
        }
        batches += 1;
    }

    // 2. Mutated real components: most are refused; those that load are
    //    called on random batches.
    let started = Instant::now();
    let (mut mutants, mut loaded) = (0, 0);
    while started.elapsed() < phase {
        let mut bytes = originals[rng.usize(..originals.len())].clone();
        for _ in 0..rng.usize(1..4) {
            mutate(&mut rng, &mut bytes);
        }
        mutants += 1;
        if let Some(plugin) = load(&engine, dir.path(), &bytes) {
            loaded += 1;
            call_randomly(&engine, &plugin, &mut rng, 3);
        }
    }

    // 3. Modules generated by wasm-smith, as they are (core modules) and
    //    wrapped in components: all refused, none panics.
    let started = Instant::now();
    let mut generated = 0;
    while started.elapsed() < phase {
        let seed: Vec<u8> = (0..rng.usize(64..4096)).map(|_| rng.u8(..)).collect();
        let mut u = Unstructured::new(&seed);
        let Ok(module) = wasm_smith::Module::new(wasm_smith::Config::default(), &mut u) else {
            continue;
        };
        let module = module.to_bytes();
        generated += 1;
        assert!(load(&engine, dir.path(), &module).is_none());
        assert!(load(&engine, dir.path(), &wrap_in_component(&module)).is_none());
    }
    println!(
        "random batches: {batches} ({rejected} rejected by reject-word); mutated components: {mutants} ({loaded} loaded and called); generated modules: {generated}"
    );
    assert!(batches > 0 && mutants > 0 && generated > 0);
}
