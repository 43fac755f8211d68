//! sluice.zig: write a Sluice operator in Zig as one function per record.
//!
//! The contract (wit/operator.wit) passes whole partition batches in column
//! layout. The C SDK (`sluice.c`, compiled in by `sluice plugin build`)
//! loops over the batch, calls your function for each record and builds the
//! output columns; this file gives its types Zig names. In `plugin.zig`:
//!
//! ```zig
//! const sluice = @import("sluice");
//! export const SLUICE_SIGNATURE = sluice.signature(.{ .value = .text }, .{ .value = .text });
//! export fn sluice_flat_map(in: *const sluice.Record, out: *sluice.Emitter, err: *sluice.Error) c_int {
//!     ...
//! }
//! ```
//!
//! Export exactly one of `sluice_map`, `sluice_flat_map`, `sluice_filter`,
//! `sluice_reduce`, `sluice_inverse_reduce`, `sluice_update_state` or
//! `sluice_map_with_state` (matching `op` in sluice-plugin.toml; a state
//! mapper also exports `SLUICE_STATE_TYPE`), and optionally
//! `sluice_init` to read the stream's parameters. Slices given to you point
//! into the input batch and are valid during the call only; what you emit is
//! copied. Return 0 for success, or `err.fail("message")` to fail the batch
//! and blame the record.

/// The logical types of keys and values (the contract's `value-type`).
pub const Type = enum(c_int) {
    text = 0,
    bytes = 1,
    int64 = 2,
    float64 = 3,
    json = 4,
    /// No key: an unkeyed stream; for a reducer's input, any key type.
    none = 255,
};

/// The shape of records: key type (or `.none`) and value type.
pub const RecordType = extern struct {
    key: Type = .none,
    value: Type,
};

/// What the operator takes and gives.
pub const Signature = extern struct {
    input: RecordType,
    output: RecordType,
};

/// The signature `input -> output`, for `export const SLUICE_SIGNATURE`.
pub fn signature(input: RecordType, output: RecordType) Signature {
    return .{ .input = input, .output = output };
}

/// Bytes: text (UTF-8), bytes or JSON.
pub const Str = extern struct {
    ptr: ?[*]const u8,
    len: usize,

    /// The bytes as a slice.
    pub fn slice(self: Str) []const u8 {
        return if (self.ptr) |p| p[0..self.len] else &[_]u8{};
    }

    /// A `Str` over `bytes` (which must outlive its use).
    pub fn of(bytes: []const u8) Str {
        return .{ .ptr = bytes.ptr, .len = bytes.len };
    }
};

/// One key or value: `str` for text, bytes and JSON, `i` for int64, `f`
/// for float64.
pub const Value = extern struct {
    str: Str = .{ .ptr = null, .len = 0 },
    i: i64 = 0,
    f: f64 = 0,
};

/// One record; `key` is meaningful only in a keyed stream.
pub const Record = extern struct {
    key: Value = .{},
    value: Value = .{},
};

/// One `name = value` parameter from the pipeline file.
pub const Param = extern struct {
    name: Str,
    value: Str,
};

/// Where a failure's message goes.
pub const Error = extern struct {
    message: ?[*:0]const u8,

    /// Sets the message and returns -1: `return err.fail("...")`.
    pub fn fail(self: *Error, message: [*:0]const u8) c_int {
        self.message = message;
        return -1;
    }
};

/// A key's state in `sluice_map_with_state`: read `value` when `exists`,
/// set both to update it, clear `exists` to remove it. A string you set must
/// stay valid until the call for the key's last record returns.
/// `timing_out` marks the key's last call, after which its state is removed.
pub const State = extern struct {
    value: Value = .{},
    exists: bool = false,
    timing_out: bool = false,
};

/// Where a flat_map's output records go.
pub const Emitter = opaque {
    /// Emits one record (copied). Returns error.OutOfMemory when the guest
    /// cannot grow its memory.
    pub fn emit(self: *Emitter, record: Record) error{OutOfMemory}!void {
        if (sluice_emit(self, &record) != 0) return error.OutOfMemory;
    }
};

extern fn sluice_emit(out: *Emitter, record: *const Record) c_int;
