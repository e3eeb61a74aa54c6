"""Golden outputs of causal Conv1D from torch.nn.functional.conv1d (run with /usr/bin/python3).

Causal padding: pad (k-1)*d zeros on the left of time, then an ordinary dilated conv1d.
Tensors are written in seqlm's layout:
  x      (in x T*B)          column t*B + b = step t of sequence b   (torch: x[b, :, t])
  kernel (filters x k*in)    column block j = tap j                  (torch: weight[:, :, j])
  bias   (filters x 1)
  y      (filters x T*B)
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

from golden_io import write_golden

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (in_channels, filters, kernel_size, dilation, activation, steps, batch)
CASES = {
    "conv1d_k3_d1_none": (3, 4, 3, 1, "none", 5, 2),
    "conv1d_k2_d2_relu": (2, 5, 2, 2, "relu", 6, 3),
    "conv1d_k3_d2_relu_short": (3, 2, 3, 2, "relu", 3, 1),  # T < (k-1)*d + 1
    "conv1d_k1_d1_relu": (4, 3, 1, 1, "relu", 4, 2),
}


def to_time_major(a):
    """torch (B, C, T) -> seqlm (C, T*B)."""
    batch, channels, steps = a.shape
    return a.permute(1, 2, 0).reshape(channels, steps * batch)


def make_case(name, in_channels, filters, k, dilation, activation, steps, batch, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, in_channels, steps, generator=gen, dtype=torch.float64) * 2 - 1
    weight = torch.rand(filters, in_channels, k, generator=gen, dtype=torch.float64) * 2 - 1
    bias = torch.rand(filters, generator=gen, dtype=torch.float64) - 0.5
    padded = F.pad(x, ((k - 1) * dilation, 0))
    y = F.conv1d(padded, weight, bias, dilation=dilation)
    if activation == "relu":
        y = torch.relu(y)
    kernel = weight.permute(0, 2, 1).reshape(filters, k * in_channels)  # [f, j*in + c] = w[f, c, j]
    comment = (f"{name}: torch.nn.functional.conv1d, in={in_channels} filters={filters} k={k} "
               f"dilation={dilation} activation={activation} T={steps} B={batch}\n"
               "written by tests/golden/make_conv1d.py")
    write_golden(os.path.join(HERE, name + ".txt"), {
        "config": np.array([in_channels, filters, k, dilation, 1 if activation == "relu" else 0, steps, batch]),
        "x": to_time_major(x).numpy(),
        "kernel": kernel.numpy(),
        "bias": bias.numpy(),
        "y": to_time_major(y).numpy(),
    }, comment)


if __name__ == "__main__":
    for seed, (name, case) in enumerate(CASES.items()):
        make_case(name, *case, seed=100 + seed)
