"""Golden forward passes of torch.nn.LSTM for tests/test_lstm.cpp.

Run from the repository root:  /usr/bin/python3 tests/golden/make_lstm.py

torch.nn.LSTM uses the same gate order as Keras (i, f, g, o) and y = W x, so
weight_ih = W (kernel, 4H x I), weight_hh = U (recurrent_kernel, 4H x H); its two biases
become bias_ih = b, bias_hh = 0. Tensors are written time-major as seqlm stores them:
column t*B + b is step t of sequence b.
"""
import os

import torch

from golden_io import write_golden

HERE = os.path.dirname(os.path.abspath(__file__))


def torch_lstm(W, U, b, x, h0=None, c0=None):
    """x: (T, B, I) -> outputs (T, B, H), h_T (B, H), c_T (B, H)."""
    four_h, inputs = W.shape
    lstm = torch.nn.LSTM(inputs, four_h // 4).double()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(W)
        lstm.weight_hh_l0.copy_(U)
        lstm.bias_ih_l0.copy_(b)
        lstm.bias_hh_l0.zero_()
        state = None if h0 is None else (h0.unsqueeze(0), c0.unsqueeze(0))
        out, (h, c) = lstm(x, state)
    return out, h[0], c[0]


def time_major(a):
    """(T, B, F) -> (F, T*B)."""
    T, B, F = a.shape
    return a.reshape(T * B, F).T


def weights(generator, inputs, units):
    W = torch.randn(4 * units, inputs, generator=generator, dtype=torch.float64) * 0.6
    U = torch.randn(4 * units, units, generator=generator, dtype=torch.float64) * 0.5
    b = torch.randn(4 * units, generator=generator, dtype=torch.float64) * 0.3
    return W, U, b


def dense_case(generator):
    inputs, units, steps, batch = 5, 4, 3, 2
    W, U, b = weights(generator, inputs, units)
    x = torch.randn(steps, batch, inputs, generator=generator, dtype=torch.float64)
    h0 = torch.randn(batch, units, generator=generator, dtype=torch.float64) * 0.5
    c0 = torch.randn(batch, units, generator=generator, dtype=torch.float64) * 0.5
    out, h, c = torch_lstm(W, U, b, x, h0, c0)
    write_golden(os.path.join(HERE, "lstm_dense.txt"), {
        "kernel": W, "recurrent_kernel": U, "bias": b,
        "x": time_major(x), "h0": h0.T, "c0": c0.T,
        "sequences": time_major(out), "h_final": h.T, "c_final": c.T,
    }, comment=f"torch.nn.LSTM({inputs}, {units}) in double, {steps} steps x {batch} sequences, "
               "dense inputs, given initial state. Written by tests/golden/make_lstm.py.")


def ids_case(generator):
    vocabulary, units, steps, batch = 6, 3, 4, 2
    W, U, b = weights(generator, vocabulary, units)
    ids = torch.randint(0, vocabulary, (steps, batch), generator=generator)
    x = torch.nn.functional.one_hot(ids, vocabulary).double()  # (T, B, V)
    out, h, c = torch_lstm(W, U, b, x)
    write_golden(os.path.join(HERE, "lstm_ids.txt"), {
        "kernel": W, "recurrent_kernel": U, "bias": b,
        "ids": ids.reshape(1, steps * batch).double(),
        "sequences": time_major(out), "h_final": h.T, "c_final": c.T,
    }, comment=f"torch.nn.LSTM({vocabulary}, {units}) in double on one-hot inputs, {steps} steps x "
               f"{batch} sequences, zero initial state. Written by tests/golden/make_lstm.py.")


if __name__ == "__main__":
    generator = torch.Generator().manual_seed(20261123)
    dense_case(generator)
    ids_case(generator)
