"""min-length in Python: keeps words of at least `min_length` characters
(parameter, default 1)."""
import sluice

SIGNATURE = sluice.signature(input=sluice.TEXT, output=sluice.TEXT)

min_length = 1


def init(params):
    global min_length
    for name, value in params.items():
        if name != "min_length":
            raise sluice.OperatorError("unknown parameter; this operator takes `min_length`")
        if not value.isdigit():
            raise sluice.OperatorError("`min_length` must be a number")
        min_length = int(value)


def filter(word):
    return len(word) >= min_length
