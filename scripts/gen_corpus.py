#!/usr/bin/env python3
"""gen_corpus.py - deterministic word-count corpus generator for Sluice's tests and benchmarks.

The same generator (same bytes for the same arguments) as the one used for the peer
measurements, so corpora and counts are comparable across engines.

Usage:
    python3 scripts/gen_corpus.py OUT_DIR --files N --mb M [--seed S] [--vocab V] [--zipf-s A]
                          [--counts COUNTS.json] [--jobs J]

What it writes (pure standard library, no dependencies):
    OUT_DIR/part-00000.txt ... part-{N-1}.txt   N text files, each just over M MB
                                                (MB = 1,000,000 bytes; a file stops at the
                                                first line that reaches M MB)
    OUT_DIR/MANIFEST.json                       parameters + per-file and total bytes/lines/words
    COUNTS.json (only with --counts)            exact expected {word: count} over all files

Format (chosen so every engine's naive tokenizer agrees):
    * ASCII lowercase words a-z only, separated by exactly ONE space, no leading/trailing
      spaces, lines end with '\n' (no '\r', no empty lines, file ends with '\n').
    * So `line.split(" ")` (the seed program's tokenizer), `split_whitespace()`, and
      `split(' ')` all yield the same tokens, and never an empty token.
    * Line length: uniform random 5..15 words (mean 10).

Vocabulary and distribution:
    * V distinct pseudo-words (default 50,000), lengths uniform 3..10, unique, generated from
      the seed. Words are sorted by (length, text), so shorter words get higher rank
      (frequent words are short, like natural text). With the defaults a token averages
      about 4.56 bytes including its separator (10 MB ~ 2.19 M words, ~49.8k distinct words).
    * Word of rank r (1-based) is drawn with probability proportional to 1 / r**A
      (Zipf, default A = 1.0). Roughly: the top word ~9% of tokens; most of the 50k words appear
      in any input of a few MB.

Determinism:
    * Everything is derived from random.Random(seed) (Mersenne Twister; Python's random module
      guarantees reproducible sequences for a given seed for random()/choices()).
    * File k uses its own RNG seeded with f"{seed}:{k}", so file k's bytes do not depend on N:
      `--files 20 --mb 10` and `--files 100 --mb 10` share their first 20 files byte-for-byte.
    * Same arguments => byte-identical output on any machine (check MANIFEST.json "sha256").

Speed: roughly 4-5 MB/s per core; --jobs J generates J files in parallel (output identical).
"""
import argparse
import bisect
import hashlib
import itertools
import json
import multiprocessing
import os
import random
import string
import sys
from collections import Counter

MB = 1_000_000


def make_vocab(seed, v):
    rng = random.Random(f"{seed}:vocab")
    words = set()
    letters = string.ascii_lowercase
    while len(words) < v:
        n = rng.randint(3, 10)
        words.add("".join(rng.choice(letters) for _ in range(n)))
    return sorted(words, key=lambda w: (len(w), w))


def gen_file(path, k, seed, vocab, cum, target_bytes, counts):
    rng = random.Random(f"{seed}:{k}")
    total = cum[-1]
    nv = len(vocab)
    rnd = rng.random
    size = lines = words = 0
    h = hashlib.sha256()
    with open(path, "wb") as f:
        while size < target_bytes:
            # generate in blocks of lines for speed
            buf = []
            for _ in range(2000):
                n = rng.randint(5, 15)
                ws = [vocab[bisect.bisect_right(cum, rnd() * total, 0, nv - 1)] for _ in range(n)]
                if counts is not None:
                    counts.update(ws)
                line = " ".join(ws) + "\n"
                buf.append(line)
                size += len(line)
                lines += 1
                words += n
                if size >= target_bytes:
                    break
            data = "".join(buf).encode("ascii")
            h.update(data)
            f.write(data)
    return {"file": os.path.basename(path), "bytes": size, "lines": lines, "words": words,
            "sha256": h.hexdigest()}


def _one(job):
    path, k, seed, vocab, cum, target, want_counts = job
    c = Counter() if want_counts else None
    info = gen_file(path, k, seed, vocab, cum, target, c)
    print(f"gen_corpus: {path} {info['bytes']} bytes", file=sys.stderr)
    return info, c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--files", type=int, default=20, help="number of files N (default 20)")
    ap.add_argument("--mb", type=float, default=10.0, help="size of each file in MB=1e6 bytes (default 10)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--vocab", type=int, default=50_000)
    ap.add_argument("--zipf-s", type=float, default=1.0)
    ap.add_argument("--counts", help="also write exact expected word counts as JSON here")
    ap.add_argument("--jobs", type=int, default=1, help="parallel worker processes (default 1)")
    a = ap.parse_args()

    os.makedirs(a.out_dir, exist_ok=True)
    vocab = make_vocab(a.seed, a.vocab)
    cum = list(itertools.accumulate(1.0 / (r ** a.zipf_s) for r in range(1, a.vocab + 1)))
    target = int(a.mb * MB)
    jobs = [(os.path.join(a.out_dir, f"part-{k:05d}.txt"), k, a.seed, vocab, cum, target,
             bool(a.counts)) for k in range(a.files)]
    if a.jobs > 1:
        with multiprocessing.Pool(a.jobs) as pool:
            results = pool.map(_one, jobs, chunksize=1)
    else:
        results = [_one(j) for j in jobs]
    files = [r[0] for r in results]
    counts = None
    if a.counts:
        counts = Counter()
        for r in results:
            counts.update(r[1])
    man = {
        "generator": "gen_corpus.py", "seed": a.seed, "files_n": a.files, "mb_per_file": a.mb,
        "vocab": a.vocab, "zipf_s": a.zipf_s, "tokenizer": "line.split(' ')",
        "total_bytes": sum(f["bytes"] for f in files),
        "total_lines": sum(f["lines"] for f in files),
        "total_words": sum(f["words"] for f in files),
        "files": files,
    }
    if counts is not None:
        man["distinct_words"] = len(counts)
        with open(a.counts, "w") as f:
            json.dump(counts, f, sort_keys=True)
    with open(os.path.join(a.out_dir, "MANIFEST.json"), "w") as f:
        json.dump(man, f, indent=1)
    print(f"gen_corpus: {a.files} files, {man['total_bytes']} bytes, {man['total_lines']} lines, "
          f"{man['total_words']} words -> {a.out_dir}")


if __name__ == "__main__":
    main()
