"""Golden next-character probabilities of the poem tutorial's two Keras models (tests/test_keras_integration.cpp).

    /usr/bin/python3 tests/golden/make_keras_poems.py [SHARED_DATA_DIR]   # from the repository root

An independent forward pass written with NumPy and h5py only (no Keras, no seqlm): it opens the
`.keras` archives with zipfile, reads model.weights.h5 with h5py in Keras's own layout
(kernel (I, 3H or 4H), recurrent kernel (H, ...), GRU bias (2, 3H), Dense kernel (H, V)) and
runs Keras 3's GRU (reset_after=True) and LSTM equations in float64 on the float32 weights.

Contexts: three windows of the tutorial's 59 characters from poemas-10k-llama3.1.txt, lower-cased
with every "@\\n" removed; the vocabulary is sorted(set(text)) (60 characters). The output,
keras_poems.txt, holds each context's ids and the softmax over the 60 characters that follow
it for each model, and the logits the softmax turns into them.
"""
import io
import os
import sys
import zipfile

import h5py
import numpy as np

from golden_io import write_golden

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "shared", "data")
GRU_FILE = "poems/keras/20240930-123129-epoch-115-loss-0.7780535221099854.keras"
LSTM_FILE = "poems/keras/epoch-239-loss-0.8769665956497192.keras"
CONTEXT = 59
STARTS = [0, 1234567, 2700000]


def weights(path):
    """Every dataset of model.weights.h5 inside the archive, as float64 arrays by path."""
    with zipfile.ZipFile(path) as archive:
        data = archive.read("model.weights.h5")
    arrays = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, np.asarray(obj, dtype=np.float64))
                     if isinstance(obj, h5py.Dataset) else None)
    return arrays


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def gru(xs, kernel, recurrent, bias):
    """Keras 3 GRUCell, reset_after=True: bias[0] on the input side, bias[1] on the recurrent side."""
    H = recurrent.shape[0]
    h = np.zeros(H)
    outputs = []
    for x in xs:
        xz, xr, xh = np.split(x @ kernel + bias[0], 3)
        hz, hr, hh = np.split(h @ recurrent + bias[1], 3)
        z = sigmoid(xz + hz)
        r = sigmoid(xr + hr)
        n = np.tanh(xh + r * hh)
        h = z * h + (1.0 - z) * n
        outputs.append(h)
    return np.array(outputs)


def lstm(xs, kernel, recurrent, bias):
    """Keras 3 LSTMCell: gates i, f, c, o."""
    H = recurrent.shape[0]
    h, c = np.zeros(H), np.zeros(H)
    for x in xs:
        i, f, g, o = np.split(x @ kernel + h @ recurrent + bias, 4)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
    return h


def main():
    text = open(os.path.join(DATA, "poems/poemas-10k-llama3.1.txt"), encoding="utf-8").read().lower()
    text = text.replace("@\n", "")
    chars = sorted(set(text))
    assert len(chars) == 60, len(chars)
    index = {c: k for k, c in enumerate(chars)}

    g = weights(os.path.join(DATA, GRU_FILE))
    m = weights(os.path.join(DATA, LSTM_FILE))
    tensors = {}
    gru_rows, lstm_rows, gru_logits, lstm_logits = [], [], [], []
    for k, start in enumerate(STARTS):
        ids = [index[c] for c in text[start:start + CONTEXT]]
        tensors[f"context_{k}"] = np.array(ids, dtype=np.float64)
        onehot = np.eye(60)[ids]
        h1 = gru(onehot, g["layers/gru/cell/vars/0"], g["layers/gru/cell/vars/1"], g["layers/gru/cell/vars/2"])
        h2 = gru(h1, g["layers/gru_1/cell/vars/0"], g["layers/gru_1/cell/vars/1"], g["layers/gru_1/cell/vars/2"])[-1]
        gru_logits.append(h2 @ g["layers/dense/vars/0"] + g["layers/dense/vars/1"])
        gru_rows.append(softmax(gru_logits[-1]))
        h = lstm(onehot, m["layers/lstm/cell/vars/0"], m["layers/lstm/cell/vars/1"], m["layers/lstm/cell/vars/2"])
        lstm_logits.append(h @ m["layers/dense/vars/0"] + m["layers/dense/vars/1"])
        lstm_rows.append(softmax(lstm_logits[-1]))
    tensors["gru_probabilities"] = np.array(gru_rows)
    tensors["lstm_probabilities"] = np.array(lstm_rows)
    tensors["gru_logits"] = np.array(gru_logits)  # before the Dense layer's softmax
    tensors["lstm_logits"] = np.array(lstm_logits)
    write_golden(os.path.join(HERE, "keras_poems.txt"), tensors,
                 comment=f"""The poem tutorial's Keras models: next-character probabilities after {CONTEXT}-character
contexts starting at {STARTS} of the prepared text (one row per context, 60 columns in vocabulary
order), and the logits before the softmax, from NumPy {np.__version__} + h5py {h5py.__version__} in float64 on the files' float32 weights.
Written by tests/golden/make_keras_poems.py.""")


if __name__ == "__main__":
    main()
