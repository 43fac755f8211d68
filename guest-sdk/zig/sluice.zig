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
//! Export exactly one of `sluice_map`, `sluice_flat_map`,
//! `sluice_flat_map_values` (emitting records whose `.value` is set; the
//! host puts each on the input's key), `sluice_filter`,
//! `sluice_reduce`, `sluice_inverse_reduce`, `sluice_update_state` or
//! `sluice_map_with_state` (matching `op` in sluice-plugin.toml; a state
//! mapper also exports `SLUICE_STATE_TYPE`), and optionally
//! `sluice_init` to read the stream's parameters. Slices given to you point
//! into the input batch and are valid during the call only; what you emit is
//! copied. Return 0 for success, or `err.fail("message")` to fail the batch
//! and blame the record.
//!
//! A sink plugin (`op = "sink"`) exports `SLUICE_SINK_TYPE` (a
//! `RecordType`) and `sluice_sink_write`, which gets a whole partition batch
//! and sends it with `post` or `send` (only to the URLs the pipeline's
//! `allow.http` grants):
//!
//! ```zig
//! export const SLUICE_SINK_TYPE = sluice.RecordType{ .key = .text, .value = .int64 };
//! export fn sluice_sink_write(info: *const sluice.SinkBatch, records: [*]const sluice.Record, count: usize, err: *sluice.Error) c_int {
//!     ...
//! }
//! ```

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

// ---- sinks (`op = "sink"`) ------------------------------------------------

/// Which batch and partition a sink's call holds. Delivery is at least
/// once: send `batch_time_ms` and `partition` along so a receiver can drop
/// what it already has.
pub const SinkBatch = extern struct {
    pipeline: Str,
    sink: Str,
    batch_time_ms: i64,
    partition: u32,
    partitions: u32,
    /// 1 for the first call with this batch and partition, 2 for its first
    /// retry, and so on.
    attempt: u32,
};

/// A growing byte buffer, for request bodies: `var body = sluice.Buf{};`,
/// then `defer body.deinit();`.
pub const Buf = extern struct {
    ptr: ?[*]u8 = null,
    len: usize = 0,
    cap: usize = 0,

    /// The contents.
    pub fn bytes(self: *const Buf) []const u8 {
        return if (self.ptr) |p| p[0..self.len] else &[_]u8{};
    }

    /// Appends `data`.
    pub fn push(self: *Buf, data: []const u8) error{OutOfMemory}!void {
        if (sluice_buf_push(self, data.ptr, data.len) != 0) return error.OutOfMemory;
    }

    /// Appends `value` in decimal.
    pub fn pushInt(self: *Buf, value: i64) error{OutOfMemory}!void {
        if (sluice_buf_push_i64(self, value) != 0) return error.OutOfMemory;
    }

    /// Appends `text` as a JSON string literal (quotes, backslashes and
    /// control characters escaped).
    pub fn pushJsonString(self: *Buf, text: []const u8) error{OutOfMemory}!void {
        if (sluice_buf_push_json_string(self, Str.of(text)) != 0) return error.OutOfMemory;
    }

    /// The contents, NUL-terminated (the NUL is not counted in `len`).
    pub fn cstr(self: *Buf) error{OutOfMemory}![*:0]const u8 {
        return sluice_buf_cstr(self) orelse error.OutOfMemory;
    }

    /// Frees the buffer.
    pub fn deinit(self: *Buf) void {
        sluice_buf_free(self);
    }
};

/// A copy of `s`, NUL-terminated (from malloc): for keeping a parameter
/// past `sluice_init`.
pub fn dupe(s: Str) error{OutOfMemory}![*:0]u8 {
    return sluice_str_dup(s) orelse error.OutOfMemory;
}

/// One request header.
pub const Header = extern struct {
    name: [*:0]const u8,
    value: [*:0]const u8,
};

/// What the receiver answered; `deinit` frees the body.
pub const Response = extern struct {
    status: u16 = 0,
    body_ptr: ?[*]u8 = null,
    body_len: usize = 0,

    /// The body, up to 1 MiB.
    pub fn body(self: *const Response) []const u8 {
        return if (self.body_ptr) |p| p[0..self.body_len] else &[_]u8{};
    }

    /// Frees the body.
    pub fn deinit(self: *Response) void {
        sluice_http_response_free(self);
    }
};

/// Sends one request (`method` is "GET", "POST", …; Content-Length is set
/// from the body) and reads its response. On `error.RequestFailed`, `err`
/// holds a message naming the URL: a malformed URL, a refusal by the host
/// (not in the allowlist or over a limit: the call then fails whatever you
/// return) or a failed request. Return it with `return -1`.
pub fn send(method: [*:0]const u8, url: [*:0]const u8, headers: []const Header, data: []const u8, err: *Error) error{RequestFailed}!Response {
    var response = Response{};
    if (sluice_http_send(method, url, headers.ptr, headers.len, data.ptr, data.len, &response, err) != 0) return error.RequestFailed;
    return response;
}

/// POSTs `data` to `url` with the given Content-Type; as `send`.
pub fn post(url: [*:0]const u8, content_type: [*:0]const u8, data: []const u8, err: *Error) error{RequestFailed}!Response {
    const headers = [_]Header{.{ .name = "content-type", .value = content_type }};
    return send("POST", url, &headers, data, err);
}

extern fn sluice_buf_push(b: *Buf, bytes: [*]const u8, len: usize) c_int;
extern fn sluice_buf_push_i64(b: *Buf, value: i64) c_int;
extern fn sluice_buf_push_json_string(b: *Buf, text: Str) c_int;
extern fn sluice_buf_cstr(b: *Buf) ?[*:0]const u8;
extern fn sluice_buf_free(b: *Buf) void;
extern fn sluice_str_dup(s: Str) ?[*:0]u8;
extern fn sluice_http_send(method: [*:0]const u8, url: [*:0]const u8, headers: [*]const Header, header_count: usize, body: [*]const u8, body_len: usize, response: *Response, err: *Error) c_int;
extern fn sluice_http_response_free(response: *Response) void;
