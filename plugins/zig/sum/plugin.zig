//! sum in Zig: adds the int64 values of equal keys, of any key type.
const sluice = @import("sluice");

export const SLUICE_SIGNATURE = sluice.signature(.{ .value = .int64 }, .{ .value = .int64 });

export fn sluice_reduce(a: *const sluice.Value, b: *const sluice.Value, out: *sluice.Value, err: *sluice.Error) c_int {
    const sum, const overflow = @addWithOverflow(a.i, b.i);
    if (overflow != 0) return err.fail("sum overflows int64");
    out.i = sum;
    return 0;
}
