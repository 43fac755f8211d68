//! sessions in Zig: per user, the events of the current session; one last
//! record when the session times out. (user, anything) in, (user, JSON) out.
const std = @import("std");
const sluice = @import("sluice");

export const SLUICE_SIGNATURE = sluice.signature(.{ .key = .text, .value = .int64 }, .{ .key = .text, .value = .json });
export const SLUICE_STATE_TYPE: sluice.Type = .int64;

var json: [64]u8 = undefined;

export fn sluice_map_with_state(key: *const sluice.Value, value: ?*const sluice.Value, state: *sluice.State, out: *sluice.Record, err: *sluice.Error) c_int {
    var events: i64 = if (state.exists) state.value.i else 0;
    if (value != null) {
        events += 1;
        state.value.i = events;
        state.exists = true;
    }
    const text = std.fmt.bufPrint(&json, "{{\"events\": {d}, \"closed\": {s}}}", .{ events, if (value == null) "true" else "false" }) catch return err.fail("cannot format the record");
    out.key = key.*;
    out.value = .{ .str = sluice.Str.of(text) };
    return 0;
}
