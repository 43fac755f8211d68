//! Test guest: a `flat_map` from text to text that gives every record back
//! unchanged, except the record equal to the `trigger` parameter (default
//! `BOOM`), on which it misbehaves as the `mode` parameter says:
//!
//! | mode | what it does |
//! | --- | --- |
//! | `loop` | spins forever |
//! | `grow` | calls `memory.grow` until refused, then traps |
//! | `vec` | pushes 1 MiB vectors until allocation fails |
//! | `recurse` | recurses without bound |
//! | `panic` | panics with a message naming the record |
//! | `exit` | calls `exit(3)` |
//! | `big` | gives one record of `bytes` bytes (default 2 MiB) |
//! | `explode` | gives `count` records (default 3 000 000) |
//! | `bad-utf8` | gives a text record that is not UTF-8 |
//! | `bad-offsets` | gives offsets past the end of its data |
//! | `sleep` | sleeps an hour, then gives the record (clocks are fixed: it must not block) |
//! | `clock` | gives the wall-clock time it reads, in milliseconds |
//!
//! With `work = N` every record first costs N turns of a busy loop (a slow
//! operator, for overload tests).
//!
//! With `say = "TEXT"` every call prints `TEXT: N records` to stderr and
//! `TEXT on stdout` to stdout; with `flood = N` every call also writes N
//! bytes to stderr, in lines of 100 (a plugin that logs too much).
//!
//! With `at_start = "print"` its `init` writes to stdout and stderr, and
//! with `at_start = "oom"` it allocates until it runs out of memory: plugin
//! code that runs while the host loads it, before any batch.
//!
//! It uses the contract's bindings directly, not the SDK's macros, so that
//! it can return output the SDK would never build.

use std::cell::RefCell;
use std::hint::black_box;

use sluice_guest::bindings::flat_map_operator::exports::sluice::operator::flat_mapper::Guest;
use sluice_guest::bindings::types::{
    Batch, Column, Error, Param, RecordType, Signature, ValueType, Varlen,
};
use sluice_guest::column::{VarlenView, number_bytes};

struct Config {
    mode: String,
    trigger: String,
    bytes: usize,
    count: usize,
    work: usize,
    say: Option<String>,
    flood: usize,
}

thread_local! {
    static CONFIG: RefCell<Config> = RefCell::new(Config {
        mode: "panic".into(),
        trigger: "BOOM".into(),
        bytes: 2 << 20,
        count: 3_000_000,
        work: 0,
        say: None,
        flood: 0,
    });
}

struct Hostile;

fn text() -> RecordType {
    RecordType {
        key: None,
        value: ValueType::Text,
    }
}

fn error(message: String) -> Error {
    Error {
        message,
        record_index: None,
    }
}

impl Guest for Hostile {
    fn describe() -> Signature {
        Signature {
            input: text(),
            output: text(),
        }
    }

    fn init(params: Vec<Param>) -> Result<(), Error> {
        CONFIG.with_borrow_mut(|config| {
            for Param { name, value } in params {
                let number = || {
                    value
                        .parse::<usize>()
                        .map_err(|e| error(format!("{name}: {e}")))
                };
                match name.as_str() {
                    "mode" => config.mode = value,
                    "trigger" => config.trigger = value,
                    "bytes" => config.bytes = number()?,
                    "count" => config.count = number()?,
                    "work" => config.work = number()?,
                    "say" => config.say = Some(value),
                    "flood" => config.flood = number()?,
                    // Misbehaves while the host loads the plugin, before
                    // any batch.
                    "at_start" => match value.as_str() {
                        "print" => {
                            println!("hostile init writes to stdout");
                            eprintln!("hostile init writes to stderr");
                        }
                        "oom" => grow_vec(),
                        other => return Err(error(format!("unknown at_start `{other}`"))),
                    },
                    _ => return Err(error(format!("unknown parameter `{name}`"))),
                }
            }
            Ok(())
        })
    }

    fn expand(input: Batch) -> Result<Batch, Error> {
        let lines = VarlenView::new(&input.values, "values")?;
        let mut data = Vec::with_capacity(lines.data().len());
        let mut offsets = Vec::with_capacity(lines.len() + 1);
        offsets.push(0u32);
        let mut push = |data: &mut Vec<u8>, value: &[u8]| {
            data.extend_from_slice(value);
            offsets.push(data.len() as u32);
        };
        let mut broken: Option<Column> = None;
        CONFIG.with_borrow(|config| {
            if let Some(say) = &config.say {
                eprintln!("{say}: {} records", lines.len());
                println!("{say} on stdout");
            }
            let line = format!("{}\n", "f".repeat(99));
            for _ in 0..config.flood / 100 {
                eprint!("{line}");
            }
            for i in 0..lines.len() {
                let line = lines.get(i);
                let mut turns = 0u64;
                for _ in 0..config.work {
                    turns = black_box(turns.wrapping_add(1));
                }
                if line != config.trigger.as_bytes() {
                    push(&mut data, line);
                    continue;
                }
                match config.mode.as_str() {
                    "loop" => spin(),
                    "grow" => grow_memory(),
                    "vec" => grow_vec(),
                    "recurse" => {
                        black_box(recurse(black_box(1)));
                    }
                    "panic" => panic!(
                        "hostile plugin panicked on {:?}",
                        String::from_utf8_lossy(line)
                    ),
                    "exit" => std::process::exit(3),
                    "big" => push(&mut data, &vec![b'x'; config.bytes]),
                    "explode" => {
                        for _ in 0..config.count {
                            push(&mut data, b"x");
                        }
                    }
                    "bad-utf8" => push(&mut data, &[0xff, 0xfe, b'x']),
                    "bad-offsets" => {
                        broken = Some(Column::Varlen(Varlen {
                            data: b"abc".to_vec(),
                            offsets: number_bytes([0u32, 2, 1_000_000]),
                        }));
                    }
                    "ragged-offsets" => {
                        broken = Some(Column::Varlen(Varlen {
                            data: b"abc".to_vec(),
                            offsets: vec![0, 0, 0, 0, 3, 0],
                        }));
                    }
                    "sleep" => {
                        std::thread::sleep(std::time::Duration::from_secs(3600));
                        push(&mut data, line);
                    }
                    "clock" => {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis());
                        push(&mut data, now.to_string().as_bytes());
                    }
                    other => panic!("unknown mode {other:?}"),
                }
            }
        });
        let values = broken.unwrap_or(Column::Varlen(Varlen {
            data,
            offsets: number_bytes(offsets),
        }));
        Ok(Batch { keys: None, values })
    }
}

fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

#[cfg(target_arch = "wasm32")]
fn grow_memory() -> ! {
    loop {
        if core::arch::wasm32::memory_grow(0, 16) == usize::MAX {
            core::arch::wasm32::unreachable()
        }
    }
}

/// Natively (clippy, docs), there is no `memory.grow`: grow the heap.
#[cfg(not(target_arch = "wasm32"))]
fn grow_memory() -> ! {
    grow_vec()
}

fn grow_vec() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        black_box(&hoard);
    }
}

fn recurse(depth: u64) -> u64 {
    if black_box(depth) == 0 {
        return 0;
    }
    black_box(recurse(depth + 1)).wrapping_add(1)
}

sluice_guest::bindings::flat_map_operator::export_flat_map_operator!(Hostile);
