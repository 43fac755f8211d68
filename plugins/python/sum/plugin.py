"""sum in Python: adds the int64 values of equal keys, of any key type."""
import sluice

SIGNATURE = sluice.signature(input=sluice.INT64, output=sluice.INT64)


def reduce(a, b):
    total = a + b
    if not -(2**63) <= total < 2**63:
        raise sluice.OperatorError("sum overflows int64")
    return total
