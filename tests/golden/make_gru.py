"""Golden forward passes for the GRU layer (tests/test_gru.cpp).

    /usr/bin/python3 tests/golden/make_gru.py      # from the repository root

gru_reset_after.txt  -- reset_after=True, computed by torch.nn.GRU (double precision) with
                        the gates reordered from torch's (r, z, n) to Keras's (z, r, h), and
                        cross-checked against the NumPy implementation below.
gru_reset_before.txt -- reset_after=False, computed by the NumPy implementation below
                        (torch has no such variant).

Tensors use seqlm's layout: kernel (3H x I), recurrent_kernel (3H x H), bias (3H x 2) with
columns b_x, b_h for reset_after=True or (3H x 1); inputs x (I x T*B) and outputs
(H x T*B) are time-major, column t*B + b being step t of sequence b.
"""
import os

import numpy as np
import torch

from golden_io import write_golden

I, H, T, B = 4, 5, 3, 2  # input size, units, steps, batch


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def gru_numpy(x, h0, W, U, bias, reset_after):
    """x: (T, B, I), h0: (B, H); weights in seqlm's layout. Returns (T, B, H)."""
    Wz, Wr, Wh = W[:H], W[H:2 * H], W[2 * H:]
    Uz, Ur, Uh = U[:H], U[H:2 * H], U[2 * H:]
    h, outputs = h0, []
    for t in range(x.shape[0]):
        xt = x[t]
        if reset_after:
            bx, bh = bias[:, 0], bias[:, 1]
            z = sigmoid(xt @ Wz.T + bx[:H] + h @ Uz.T + bh[:H])
            r = sigmoid(xt @ Wr.T + bx[H:2 * H] + h @ Ur.T + bh[H:2 * H])
            n = np.tanh(xt @ Wh.T + bx[2 * H:] + r * (h @ Uh.T + bh[2 * H:]))
        else:
            b = bias[:, 0]
            z = sigmoid(xt @ Wz.T + h @ Uz.T + b[:H])
            r = sigmoid(xt @ Wr.T + h @ Ur.T + b[H:2 * H])
            n = np.tanh(xt @ Wh.T + (r * h) @ Uh.T + b[2 * H:])
        h = z * h + (1.0 - z) * n
        outputs.append(h)
    return np.stack(outputs)


def gru_torch(x, h0, W, U, bias):
    """reset_after=True through torch.nn.GRU, whose gate blocks are ordered (r, z, n)."""
    def to_torch(m):  # rows (z, r, h) -> (r, z, n)
        return torch.from_numpy(np.concatenate([m[H:2 * H], m[:H], m[2 * H:]]).copy())

    gru = torch.nn.GRU(I, H).double()
    with torch.no_grad():
        gru.weight_ih_l0.copy_(to_torch(W))
        gru.weight_hh_l0.copy_(to_torch(U))
        gru.bias_ih_l0.copy_(to_torch(bias[:, 0]))
        gru.bias_hh_l0.copy_(to_torch(bias[:, 1]))
        out, _ = gru(torch.from_numpy(x), torch.from_numpy(h0)[None])
    return out.numpy()


def time_major(a):
    """(T, B, F) -> (F, T*B)."""
    return a.reshape(-1, a.shape[-1]).T


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    rng = np.random.default_rng(20261123)
    for reset_after, name in [(True, "gru_reset_after.txt"), (False, "gru_reset_before.txt")]:
        W = rng.uniform(-0.8, 0.8, (3 * H, I))
        U = rng.uniform(-0.8, 0.8, (3 * H, H))
        bias = rng.uniform(-0.5, 0.5, (3 * H, 2 if reset_after else 1))
        x = rng.uniform(-1.5, 1.5, (T, B, I))
        h0 = rng.uniform(-0.9, 0.9, (B, H))
        out = gru_numpy(x, h0, W, U, bias, reset_after)
        if reset_after:
            reference = gru_torch(x, h0, W, U, bias)
            assert np.abs(reference - out).max() < 1e-13, np.abs(reference - out).max()
            out = reference
            source = f"torch.nn.GRU {torch.__version__} (double), gates reordered r,z,n -> z,r,h"
        else:
            source = "NumPy reference implementation in make_gru.py"
        write_golden(os.path.join(here, name), {
            "kernel": W, "recurrent_kernel": U, "bias": bias,
            "x": time_major(x), "h0": h0.T,
            "output": time_major(out), "final_h": out[-1].T,
        }, comment=f"GRU reset_after={reset_after}, I={I} H={H} T={T} B={B}; from {source}.\n"
                   "Written by tests/golden/make_gru.py.")


if __name__ == "__main__":
    main()
