//! split-words in Zig: each line's words, split at ASCII whitespace.
const std = @import("std");
const sluice = @import("sluice");

export const SLUICE_SIGNATURE = sluice.signature(.{ .value = .text }, .{ .value = .text });

export fn sluice_flat_map(in: *const sluice.Record, out: *sluice.Emitter, err: *sluice.Error) c_int {
    var words = std.mem.tokenizeAny(u8, in.value.str.slice(), " \t\n\r\x0b\x0c");
    while (words.next()) |word| {
        out.emit(.{ .value = .{ .str = sluice.Str.of(word) } }) catch return err.fail("out of memory");
    }
    return 0;
}
