//! Test guest: a `map` whose module declares 1 GiB of initial linear memory
//! (a zeroed static), more than the default `memory_mib` limit. The host
//! must refuse it at load, naming the memory limit.

use sluice_guest::map;

static mut BALLAST: [u8; 1 << 30] = [0; 1 << 30];

/// The record's length, read through the ballast so it stays in the module.
#[map]
fn touch(word: &str) -> i64 {
    let index = word.len() % (1 << 30);
    // SAFETY: single-threaded guest; the static is only read here.
    let byte = unsafe {
        std::ptr::addr_of!(BALLAST)
            .cast::<u8>()
            .add(index)
            .read_volatile()
    };
    word.len() as i64 + i64::from(byte)
}
