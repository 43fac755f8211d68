"""sum in Python: adds the int64 values of equal keys, of any key type.

Written over the whole partition batch (`reduce_batch`): one `sum` in C per
key. Python's ints do not overflow; a total outside int64 fails the batch
when the SDK writes it."""
import sluice

SIGNATURE = sluice.signature(input=sluice.INT64, output=sluice.INT64)


def reduce_batch(groups):
    return list(map(sum, groups))
