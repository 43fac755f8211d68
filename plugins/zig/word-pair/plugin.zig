//! word-pair in Zig: each word becomes the pair (word, 1).
const sluice = @import("sluice");

export const SLUICE_SIGNATURE = sluice.signature(.{ .value = .text }, .{ .key = .text, .value = .int64 });

export fn sluice_map(in: *const sluice.Record, out: *sluice.Record, err: *sluice.Error) c_int {
    _ = err;
    out.* = .{ .key = .{ .str = in.value.str }, .value = .{ .i = 1 } };
    return 0;
}
