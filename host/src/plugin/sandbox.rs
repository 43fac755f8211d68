//! What a plugin may import, and the host side of what it is given.
//!
//! A plugin gets the contract and nothing else. Toolchains such as Rust's
//! `wasm32-wasip2` import a handful of WASI interfaces even when the operator
//! does no I/O; those are satisfied with an empty context: no files, sockets,
//! environment or arguments, an empty stdin, stdout and stderr captured
//! per call up to a bound, never refused ([`super::capture`]; what they
//! hold goes to `sluice logs`, and stderr to the call's errors). `wasi:filesystem/types` and `preopens` are linked with no
//! preopened directory: the WASI preview1 adapter that wasip1 toolchains
//! (Go, C with stdio) go through imports them for its file descriptors, but
//! a component can only reach a file through a descriptor, and it is given
//! none. Clocks are fixed to the batch time and random numbers are fixed
//! bytes, so a replayed batch gives the same output. Every pollable is ready
//! at once, so a plugin that "sleeps" can only spin, and the call-time limit
//! stops it: nothing a plugin calls can block a host thread.
//!
//! [`check_imports`] runs at load time, before linking, and returns every
//! import outside [`ALLOWED_INTERFACES`] with the reason it is refused; the
//! linker also defines only those
//! interfaces, so an import that slipped past the check could not be linked.
//!
//! A sink plugin gets the same sandbox plus `wasi:http/types` and
//! `wasi:http/outgoing-handler` ([`SINK_HTTP_INTERFACES`],
//! [`check_sink_imports`], [`add_to_sink_linker`]), whose every request
//! passes the sink's allowlist (see [`super::http_grant`]). Its linker holds
//! the asynchronous form of every interface that can wait, so a request in
//! flight waits on the async runtime, never on a blocked thread.
//!
//! A sink is also linked with `wasi:sockets` ([`SINK_SOCKET_INTERFACES`]),
//! because interpreters built for WASI (CPython in a Python sink) import it
//! whether or not the plugin uses it; it is linked empty: TCP and UDP are
//! off and name lookup is off, so creating a socket fails with
//! `access-denied` and no address can be used. A sink's only way out stays
//! its checked `wasi:http`.

use std::time::Duration;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::WasiCli;
use wasmtime_wasi::cli::WasiCliView;
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::clocks::{monotonic_clock, wall_clock};
use wasmtime_wasi::p2::bindings::{cli, random, sync};
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};

use super::engine::GuestState;

/// The contract's own interfaces (types shared by the operator worlds).
const CONTRACT_PACKAGE: &str = "sluice:operator/";

/// WASI 0.2 interfaces a plugin may import, served by the empty context.
pub const ALLOWED_INTERFACES: [&str; 20] = [
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    // No preopened directory: no descriptor to use them with.
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
];

/// What a sink plugin may import beyond [`ALLOWED_INTERFACES`].
pub const SINK_HTTP_INTERFACES: [&str; 2] = ["wasi:http/types", "wasi:http/outgoing-handler"];

/// What a sink plugin may import beyond [`ALLOWED_INTERFACES`] and
/// [`SINK_HTTP_INTERFACES`]: linked with every socket refused.
pub const SINK_SOCKET_INTERFACES: [&str; 7] = [
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/ip-name-lookup",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
];

/// Why an import is refused, for the families users meet most.
fn refusal_reason(interface: &str) -> String {
    if interface.starts_with(CONTRACT_PACKAGE) {
        let built_for = match interface.split_once('@') {
            Some((_, version)) => format!("built for sluice:operator@{version}"),
            None => "built for an unversioned Sluice contract".to_owned(),
        };
        return format!(
            "{built_for}, but this host implements sluice:operator@{}: rebuild the plugin with the current SDK",
            super::CONTRACT_VERSION
        );
    }
    let reason = if interface.starts_with("wasi:sockets/") {
        "plugins get no network access"
    } else if interface.starts_with("wasi:http/") {
        "only a sink plugin (`kind = \"plugin\"` in [sinks]) may make HTTP requests, to the URLs its `allow.http` grants"
    } else if interface.starts_with("wasi:") {
        "this WASI interface is not part of the plugin sandbox"
    } else {
        "plugins may import only the Sluice contract and the sandboxed WASI interfaces"
    };
    reason.to_owned()
}

/// An import outside the allowlist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForbiddenImport {
    /// The import as the component names it, e.g. `wasi:sockets/tcp@0.2.6`.
    pub import: String,
    /// Why it is refused.
    pub reason: String,
}

/// Checks `imports` (as listed by the component's type) against the
/// allowlist; returns every refused one, in order.
pub fn check_imports<'a>(imports: impl IntoIterator<Item = &'a str>) -> Vec<ForbiddenImport> {
    refused(imports, &[])
}

/// [`check_imports`] for a sink plugin, which may also import
/// [`SINK_HTTP_INTERFACES`].
pub fn check_sink_imports<'a>(imports: impl IntoIterator<Item = &'a str>) -> Vec<ForbiddenImport> {
    let also: Vec<&str> = SINK_HTTP_INTERFACES
        .into_iter()
        .chain(SINK_SOCKET_INTERFACES)
        .collect();
    refused(imports, &also)
}

fn refused<'a>(imports: impl IntoIterator<Item = &'a str>, also: &[&str]) -> Vec<ForbiddenImport> {
    imports
        .into_iter()
        .filter(|import| !is_allowed(import, also))
        .map(|import| ForbiddenImport {
            import: import.to_owned(),
            reason: refusal_reason(import),
        })
        .collect()
}

fn is_allowed(import: &str, also: &[&str]) -> bool {
    let (interface, version) = match import.split_once('@') {
        Some((interface, version)) => (interface, Some(version)),
        None => (import, None),
    };
    if interface.starts_with(CONTRACT_PACKAGE) {
        return version == Some(super::CONTRACT_VERSION);
    }
    // The host implements WASI 0.2; any 0.2.x is accepted by semver.
    (ALLOWED_INTERFACES.contains(&interface) || also.contains(&interface))
        && version.is_some_and(|v| v.starts_with("0.2."))
}

/// Defines the allowed WASI interfaces, and only those, in `linker`.
///
/// # Errors
///
/// When wasmtime refuses a definition (a bug).
pub fn add_to_linker(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    let l = linker;
    add_never_waiting(l)?;
    sync::io::error::add_to_linker::<GuestState, Tables>(l, |t| &mut t.table)?;
    sync::io::poll::add_to_linker::<GuestState, Tables>(l, |t| &mut t.table)?;
    sync::io::streams::add_to_linker::<GuestState, Tables>(l, |t| &mut t.table)?;
    // The context has no preopened directory (see the module's docs).
    sync::filesystem::types::add_to_linker::<GuestState, WasiFilesystem>(
        l,
        GuestState::filesystem,
    )?;
    Ok(())
}

/// Defines, for sink plugins, the interfaces of [`add_to_linker`] in their
/// asynchronous form where they can wait, and `wasi:http`.
///
/// # Errors
///
/// When wasmtime refuses a definition (a bug).
pub fn add_to_sink_linker(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::{filesystem, io};
    let l = linker;
    add_never_waiting(l)?;
    io::error::add_to_linker::<GuestState, Tables>(l, |t| &mut t.table)?;
    io::poll::add_to_linker::<GuestState, Tables>(l, |t| &mut t.table)?;
    io::streams::add_to_linker::<GuestState, Tables>(l, |t| &mut t.table)?;
    filesystem::types::add_to_linker::<GuestState, WasiFilesystem>(l, GuestState::filesystem)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(l)?;
    add_refused_sockets(l)
}

/// `wasi:sockets` for sinks; the store's context refuses every use (TCP,
/// UDP and name lookup off).
fn add_refused_sockets(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::sockets;
    use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};
    let options = sockets::network::LinkOptions::default();
    sockets::network::add_to_linker::<GuestState, WasiSockets>(l, &options, |t| t.sockets())?;
    sockets::instance_network::add_to_linker::<GuestState, WasiSockets>(l, |t| t.sockets())?;
    sockets::ip_name_lookup::add_to_linker::<GuestState, WasiSockets>(l, |t| t.sockets())?;
    sockets::tcp::add_to_linker::<GuestState, WasiSockets>(l, |t| t.sockets())?;
    sockets::tcp_create_socket::add_to_linker::<GuestState, WasiSockets>(l, |t| t.sockets())?;
    sockets::udp::add_to_linker::<GuestState, WasiSockets>(l, |t| t.sockets())?;
    sockets::udp_create_socket::add_to_linker::<GuestState, WasiSockets>(l, |t| t.sockets())?;
    Ok(())
}

/// The interfaces whose functions never wait, the same for every plugin:
/// clocks, random numbers, the CLI's, and the (empty) preopens.
fn add_never_waiting(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::filesystem::preopens;
    wall_clock::add_to_linker::<GuestState, FixedClocks>(l, GuestState::clocks)?;
    monotonic_clock::add_to_linker::<GuestState, FixedClocks>(l, GuestState::clocks)?;
    random::random::add_to_linker::<GuestState, WasiRandom>(l, GuestState::random)?;
    random::insecure::add_to_linker::<GuestState, WasiRandom>(l, GuestState::random)?;
    random::insecure_seed::add_to_linker::<GuestState, WasiRandom>(l, GuestState::random)?;
    cli::exit::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::environment::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::stdin::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::stdout::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::stderr::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_input::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_output::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_stdin::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_stdout::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_stderr::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    preopens::add_to_linker::<GuestState, WasiFilesystem>(l, GuestState::filesystem)?;
    Ok(())
}

/// `wasi:io` works on the resource table alone.
struct Tables;

impl HasData for Tables {
    type Data<'a> = &'a mut ResourceTable;
}

/// Clocks that read the batch time, whenever they are asked.
pub struct FixedClocks;

impl HasData for FixedClocks {
    type Data<'a> = FixedClockView<'a>;
}

/// The clocks of one store.
pub struct FixedClockView<'a> {
    now: Duration,
    table: &'a mut ResourceTable,
}

impl GuestState {
    fn clocks(&mut self) -> FixedClockView<'_> {
        FixedClockView {
            now: self.clock,
            table: &mut self.table,
        }
    }
}

impl wall_clock::Host for FixedClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        Ok(wall_clock::Datetime {
            seconds: self.now.as_secs(),
            nanoseconds: self.now.subsec_nanos(),
        })
    }

    fn resolution(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        Ok(wall_clock::Datetime {
            seconds: 0,
            nanoseconds: 1_000_000,
        })
    }
}

impl monotonic_clock::Host for FixedClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        // Never zero, even for a batch at the epoch: Go's runtime aborts on a
        // zero monotonic reading ("nanotime returning zero").
        Ok(u64::try_from(self.now.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1))
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(1_000_000)
    }

    fn subscribe_instant(
        &mut self,
        _when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        ready_now(self.table)
    }

    fn subscribe_duration(
        &mut self,
        _duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        ready_now(self.table)
    }
}

/// A pollable that is ready at once: time does not pass inside a call, so
/// a sleep returns immediately instead of blocking a host thread.
struct ReadyNow;

#[wasmtime_wasi::async_trait]
impl Pollable for ReadyNow {
    async fn ready(&mut self) {}
}

fn ready_now(table: &mut ResourceTable) -> wasmtime::Result<Resource<DynPollable>> {
    let resource = table.push(ReadyNow)?;
    subscribe(table, resource)
}

#[cfg(test)]
mod tests {
    use super::check_imports;

    #[test]
    fn rust_std_imports_are_allowed() {
        let imports = [
            "sluice:operator/types@0.3.0",
            "wasi:cli/environment@0.2.6",
            "wasi:io/streams@0.2.9",
            "wasi:clocks/monotonic-clock@0.2.0",
            // Linked without directories: see the module's docs.
            "wasi:filesystem/types@0.2.6",
            "wasi:filesystem/preopens@0.2.12",
        ];
        assert_eq!(check_imports(imports), vec![]);
    }

    #[test]
    fn only_sinks_may_import_wasi_http_and_refused_sockets() {
        let imports = [
            "wasi:http/types@0.2.12",
            "wasi:http/outgoing-handler@0.2.12",
            "wasi:io/poll@0.2.12",
            "wasi:sockets/tcp@0.2.9",
            "wasi:sockets/ip-name-lookup@0.2.9",
        ];
        assert_eq!(super::check_sink_imports(imports), vec![]);
        assert_eq!(check_imports(imports).len(), 4);
        let refused = super::check_sink_imports([
            "wasi:http/incoming-handler@0.2.12",
            "wasi:sockets/tcp@0.3.0",
        ]);
        assert_eq!(
            refused
                .iter()
                .map(|f| f.import.as_str())
                .collect::<Vec<_>>(),
            [
                "wasi:http/incoming-handler@0.2.12",
                "wasi:sockets/tcp@0.3.0"
            ]
        );
    }

    #[test]
    fn io_and_unknown_imports_are_refused_with_a_reason() {
        let refused = check_imports([
            "wasi:sockets/tcp@0.2.6",
            "wasi:http/outgoing-handler@0.2.6",
            "wasi:cli/environment@0.3.0",
            "acme:keys/store",
            "sluice:operator/types@9.0.0",
            "sluice:operator/types@0.2.0",
        ]);
        let reasons: Vec<(&str, &str)> = refused
            .iter()
            .map(|f| (f.import.as_str(), f.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                ("wasi:sockets/tcp@0.2.6", "plugins get no network access"),
                (
                    "wasi:http/outgoing-handler@0.2.6",
                    "only a sink plugin (`kind = \"plugin\"` in [sinks]) may make HTTP requests, to the URLs its `allow.http` grants"
                ),
                (
                    "wasi:cli/environment@0.3.0",
                    "this WASI interface is not part of the plugin sandbox"
                ),
                (
                    "acme:keys/store",
                    "plugins may import only the Sluice contract and the sandboxed WASI interfaces"
                ),
                (
                    "sluice:operator/types@9.0.0",
                    "built for sluice:operator@9.0.0, but this host implements sluice:operator@0.3.0: rebuild the plugin with the current SDK"
                ),
                (
                    "sluice:operator/types@0.2.0",
                    "built for sluice:operator@0.2.0, but this host implements sluice:operator@0.3.0: rebuild the plugin with the current SDK"
                ),
            ]
        );
    }
}
