"""split-words in Python: each line's words, split at whitespace.

Written over the whole partition batch (`flat_map_batch`): one `split` in C
for all of its lines, instead of a Python call per line."""
import sluice

SIGNATURE = sluice.signature(input=sluice.TEXT, output=sluice.TEXT)


def flat_map_batch(lines):
    # A line ends at "\n", which `split` takes as whitespace like any other.
    return "\n".join(lines).split()
