#!/usr/bin/env python3
"""Trims a fuzz corpus to a byte budget, keeping as much coverage as it can.

libFuzzer's -merge=1 keeps every input that adds a feature, which for the file formats with
checksums and many nested checks (model files, checkpoints) is hundreds of 5 KB files. This
reads the control file of such a merge and chooses greedily, by new features per byte, the
inputs that fit in BUDGET bytes; it prints their paths, one a line.

    build/fuzz/tests/fuzz/fuzz_checkpoint -merge=1 -merge_control_file=/tmp/control \\
        /tmp/empty tests/fuzz/corpus/checkpoint build/fuzz/corpus/checkpoint
    tests/fuzz/trim_corpus.py /tmp/control 450000 > /tmp/keep

It reports on stderr the features kept out of all the inputs' features.
"""
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    control, budget = sys.argv[1], int(sys.argv[2])
    lines = open(control).read().split("\n")
    count = int(lines[0])
    paths = lines[2:2 + count]  # line 1 is the number of inputs in the first directory
    features, size = {}, {}
    for line in lines[2 + count:]:
        parts = line.split()
        if parts and parts[0] == "STARTED":
            size[int(parts[1])] = int(parts[2])
        elif parts and parts[0] == "FT":
            features[int(parts[1])] = set(map(int, parts[2:]))
    every = set().union(*features.values()) if features else set()
    covered, kept, used = set(), [], 0
    candidates = set(features)
    while candidates:
        # Most new features per byte (64 bytes of overhead per file); smaller first on ties.
        best = max(candidates, key=lambda i: (len(features[i] - covered) / (size[i] + 64), -size[i], -i))
        candidates.discard(best)
        if not features[best] - covered:
            break
        if used + size[best] > budget:
            continue
        covered |= features[best]
        kept.append(best)
        used += size[best]
    sys.stderr.write(f"features {len(covered)}/{len(every)}, {len(kept)} inputs, {used} bytes\n")
    for index in kept:
        print(paths[index])


if __name__ == "__main__":
    main()
