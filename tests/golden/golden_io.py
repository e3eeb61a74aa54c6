"""Writes golden reference tensors in the text format read by tests/golden.hpp.

    tensor <name> <rows> <cols>
    <values row by row>

1-D arrays become (n x 1) column vectors, scalars (1 x 1). Values are written with 17
significant digits so that doubles round-trip exactly.
"""
import numpy as np


def write_golden(path, tensors, comment=""):
    with open(path, "w") as out:
        for line in comment.strip().splitlines():
            out.write("# " + line + "\n")
        for name, value in tensors.items():
            a = np.asarray(value, dtype=np.float64)
            if a.ndim == 0:
                a = a.reshape(1, 1)
            elif a.ndim == 1:
                a = a.reshape(-1, 1)
            elif a.ndim != 2:
                raise ValueError(f"{name}: only 0-, 1- and 2-D tensors, got shape {a.shape}")
            rows, cols = a.shape
            out.write(f"tensor {name} {rows} {cols}\n")
            for r in range(rows):
                out.write(" ".join(f"{v:.17g}" for v in a[r]) + "\n")
