"""subtract in Python: the inverse of sum for windows (`inverse_plugin`)."""
import sluice

SIGNATURE = sluice.signature(input=sluice.INT64, output=sluice.INT64)


def inverse_reduce(total, leaving):
    difference = total - leaving
    if not -(2**63) <= difference < 2**63:
        raise sluice.OperatorError("difference overflows int64")
    return difference
