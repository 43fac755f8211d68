//! running-sum in Zig: keeps, per key, the sum of every value since the
//! start (Spark's stateful word count); wraps around on overflow.
const sluice = @import("sluice");

export const SLUICE_SIGNATURE = sluice.signature(.{ .value = .int64 }, .{ .value = .int64 });

export fn sluice_update_state(values: [*]const sluice.Value, count: usize, state: ?*const sluice.Value, out: *sluice.Value, keep: *bool, err: *sluice.Error) c_int {
    _ = err;
    var sum: i64 = if (state) |s| s.i else 0;
    for (values[0..count]) |v| sum +%= v.i;
    out.i = sum;
    keep.* = true;
    return 0;
}
