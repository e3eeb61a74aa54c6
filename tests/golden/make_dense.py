"""Golden outputs of Dense and the softmax cross-entropy loss from PyTorch (run with /usr/bin/python3).

Everything is computed in float64 and written in seqlm's layout (features in rows, one column
per position; torch works on the transposes):

dense_linear.txt   y = torch.nn.functional.linear(x, W, b) and, for a fixed dy, the autograd
                   gradients dx, dW, db.
  x (in x N), kernel (units x in), bias (units x 1), y (units x N), dy, dx, d_kernel, d_bias

dense_loss.txt     torch.nn.functional.cross_entropy over logits (V x N) with
  targets (N x 1)         ids; positions with weight 0 hold -1 (never read)
  weights (N x 1)         0 masks a position
  loss_mean               cross_entropy(reduction='mean') over ALL positions (targets_all)
  d_logits_mean           its autograd gradient
  loss_weighted           sum(w * cross_entropy(reduction='none')) / sum(w)
  d_logits_weighted       its autograd gradient
  log_softmax, softmax    per column
  correct_all, correct_weighted   argmax == target counts (all / weight != 0)
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

from golden_io import write_golden

HERE = os.path.dirname(os.path.abspath(__file__))
COMMENT = "written by tests/golden/make_dense.py"


def make_linear(in_size=5, units=4, positions=6, seed=300):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(positions, in_size, generator=gen, dtype=torch.float64) * 2 - 1).requires_grad_()
    w = (torch.rand(units, in_size, generator=gen, dtype=torch.float64) * 2 - 1).requires_grad_()
    b = (torch.rand(units, generator=gen, dtype=torch.float64) - 0.5).requires_grad_()
    dy = torch.rand(positions, units, generator=gen, dtype=torch.float64) * 2 - 1
    y = F.linear(x, w, b)
    y.backward(dy)
    write_golden(os.path.join(HERE, "dense_linear.txt"), {
        "x": x.detach().numpy().T,
        "kernel": w.detach().numpy(),
        "bias": b.detach().numpy(),
        "y": y.detach().numpy().T,
        "dy": dy.numpy().T,
        "dx": x.grad.numpy().T,
        "d_kernel": w.grad.numpy(),
        "d_bias": b.grad.numpy(),
    }, f"Dense: torch.nn.functional.linear, in={in_size} units={units} N={positions}\n" + COMMENT)


def make_loss(vocabulary=7, positions=8, seed=301):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(positions, vocabulary, generator=gen, dtype=torch.float64) * 3
    targets_all = torch.randint(0, vocabulary, (positions,), generator=gen)
    # Make two positions correct on purpose so that the accuracy count is not trivially 0.
    targets_all[0] = int(logits[0].argmax())
    targets_all[3] = int(logits[3].argmax())
    weights = torch.tensor([1.0, 0.0, 2.0, 0.5, 1.0, 0.0, 1.0, 3.0], dtype=torch.float64)
    assert weights.numel() == positions

    z = logits.clone().requires_grad_()
    loss_mean = F.cross_entropy(z, targets_all, reduction="mean")
    loss_mean.backward()
    d_mean = z.grad.clone()

    z = logits.clone().requires_grad_()
    per_position = F.cross_entropy(z, targets_all, reduction="none")
    loss_weighted = (weights * per_position).sum() / weights.sum()
    loss_weighted.backward()
    d_weighted = z.grad.clone()

    correct = logits.argmax(dim=1) == targets_all
    targets_masked = torch.where(weights > 0, targets_all, torch.full_like(targets_all, -1))
    write_golden(os.path.join(HERE, "dense_loss.txt"), {
        "logits": logits.numpy().T,
        "targets_all": targets_all.numpy(),
        "targets": targets_masked.numpy(),
        "weights": weights.numpy(),
        "loss_mean": loss_mean.detach().numpy(),
        "d_logits_mean": d_mean.numpy().T,
        "loss_weighted": loss_weighted.detach().numpy(),
        "d_logits_weighted": d_weighted.numpy().T,
        "log_softmax": F.log_softmax(logits, dim=1).numpy().T,
        "softmax": F.softmax(logits, dim=1).numpy().T,
        "correct_all": np.array(int(correct.sum())),
        "correct_weighted": np.array(int((correct & (weights > 0)).sum())),
    }, f"softmax cross-entropy: torch.nn.functional.cross_entropy, V={vocabulary} N={positions}\n" + COMMENT)


if __name__ == "__main__":
    make_linear()
    make_loss()
