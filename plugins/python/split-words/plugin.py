"""split-words in Python: each line's words, split at whitespace."""
import sluice

SIGNATURE = sluice.signature(input=sluice.TEXT, output=sluice.TEXT)


def flat_map(line):
    return line.split()
