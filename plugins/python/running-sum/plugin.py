"""running-sum in Python: keeps, per key, the sum of every value since the
start (PySpark's stateful word count update function); wraps around on
int64 overflow like the Rust one."""
import sluice

SIGNATURE = sluice.signature(input=sluice.INT64, output=sluice.INT64)


def update_state(values, state):
    total = sum(values) + (state or 0)
    return ((total + 2**63) % 2**64) - 2**63
