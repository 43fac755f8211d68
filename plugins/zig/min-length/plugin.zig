//! min-length in Zig: keeps words of at least `min_length` characters
//! (parameter, default 1), counting UTF-8 characters.
const std = @import("std");
const sluice = @import("sluice");

export const SLUICE_SIGNATURE = sluice.signature(.{ .value = .text }, .{ .value = .text });

var min_length: u64 = 1;

export fn sluice_init(params: ?[*]const sluice.Param, count: usize, err: *sluice.Error) c_int {
    const list = if (params) |p| p[0..count] else &[_]sluice.Param{};
    for (list) |param| {
        if (!std.mem.eql(u8, param.name.slice(), "min_length")) {
            return err.fail("unknown parameter; this operator takes `min_length`");
        }
        min_length = std.fmt.parseInt(u64, param.value.slice(), 10) catch
            return err.fail("`min_length` must be a number");
    }
    return 0;
}

export fn sluice_filter(in: *const sluice.Record, keep: *bool, err: *sluice.Error) c_int {
    _ = err;
    var chars: u64 = 0;
    for (in.value.str.slice()) |byte| {
        if (byte & 0xC0 != 0x80) chars += 1;
    }
    keep.* = chars >= min_length;
    return 0;
}
