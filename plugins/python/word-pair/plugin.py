"""word-pair in Python: each word becomes the pair (word, 1)."""
import sluice

SIGNATURE = sluice.signature(input=sluice.TEXT, output=(sluice.TEXT, sluice.INT64))


def map(word):
    return (word, 1)
