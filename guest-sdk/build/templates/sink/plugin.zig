const std = @import("std");
const sluice = @import("sluice");

export const SLUICE_SINK_TYPE = sluice.RecordType{ .key = .text, .value = .int64 };

var url: ?[*:0]u8 = null;

export fn sluice_init(params: [*]const sluice.Param, count: usize, err: *sluice.Error) c_int {
    for (params[0..count]) |p| {
        if (std.mem.eql(u8, p.name.slice(), "url")) {
            url = sluice.dupe(p.value) catch return err.fail("out of memory");
        }
    }
    if (url == null) return err.fail("`url` is required: where to POST the records");
    return 0;
}

/// POSTs the records, one {"key": …, "value": …} line each, to `url` with
/// the batch time and partition in the query, so that the receiver can
/// drop a partition it already has (delivery is at least once).
export fn sluice_sink_write(info: *const sluice.SinkBatch, records: [*]const sluice.Record, count: usize, err: *sluice.Error) c_int {
    var body = sluice.Buf{};
    defer body.deinit();
    var target = sluice.Buf{};
    defer target.deinit();
    build(&body, &target, info, records[0..count]) catch return err.fail("out of memory");
    const to = target.cstr() catch return err.fail("out of memory");
    var response = sluice.post(to, "application/x-ndjson", body.bytes(), err) catch return -1;
    defer response.deinit();
    if (response.status < 200 or response.status >= 300) {
        const S = struct {
            var message: [1024]u8 = undefined;
        };
        const text = std.fmt.bufPrint(S.message[0..1023], "{s} answered {d}", .{ std.mem.span(to), response.status }) catch return err.fail("the receiver did not answer 2xx");
        S.message[text.len] = 0;
        return err.fail(S.message[0..text.len :0]);
    }
    return 0;
}

fn build(body: *sluice.Buf, target: *sluice.Buf, info: *const sluice.SinkBatch, records: []const sluice.Record) !void {
    for (records) |r| {
        try body.push("{\"key\":");
        try body.pushJsonString(r.key.str.slice());
        try body.push(",\"value\":");
        try body.pushInt(r.value.i);
        try body.push("}\n");
    }
    try target.push(std.mem.span(url.?));
    try target.push("?batch=");
    try target.pushInt(info.batch_time_ms);
    try target.push("&partition=");
    try target.pushInt(info.partition);
}
