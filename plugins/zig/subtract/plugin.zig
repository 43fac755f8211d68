//! subtract in Zig: the inverse of sum for windows (`inverse_plugin`).
const sluice = @import("sluice");

export const SLUICE_SIGNATURE = sluice.signature(.{ .value = .int64 }, .{ .value = .int64 });

export fn sluice_inverse_reduce(total: *const sluice.Value, leaving: *const sluice.Value, out: *sluice.Value, err: *sluice.Error) c_int {
    const difference, const overflow = @subWithOverflow(total.i, leaving.i);
    if (overflow != 0) return err.fail("difference overflows int64");
    out.i = difference;
    return 0;
}
