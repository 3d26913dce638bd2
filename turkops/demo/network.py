"""A one-hidden-layer network trained in a second with numpy; its hidden units are the neurons."""

from __future__ import annotations

import numpy as np


def train_hidden_units(
    x: np.ndarray, y: np.ndarray, n_hidden: int, rng: np.random.Generator, epochs: int = 60
) -> np.ndarray:
    """Train x (N, d) -> multi-label y (N, k) with sigmoid outputs; return ReLU activations (N, h).

    Plain full-batch gradient descent with Adam: small enough to be instant and deterministic.
    """
    n, d = x.shape
    k = y.shape[1]
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    w1 = rng.normal(0, np.sqrt(2 / d), (d, n_hidden)).astype(np.float32)
    b1 = np.zeros(n_hidden, np.float32)
    w2 = rng.normal(0, np.sqrt(1 / n_hidden), (n_hidden, k)).astype(np.float32)
    b2 = np.zeros(k, np.float32)
    params = [w1, b1, w2, b2]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    lr, beta1, beta2 = 0.01, 0.9, 0.999
    for t in range(1, epochs + 1):
        h_pre = x @ w1 + b1
        h = np.maximum(h_pre, 0)
        out = 1 / (1 + np.exp(-np.clip(h @ w2 + b2, -50, 50)))
        g_out = (out - y) / n
        g_w2 = h.T @ g_out
        g_b2 = g_out.sum(0)
        g_h = (g_out @ w2.T) * (h_pre > 0)
        g_w1 = x.T @ g_h
        g_b1 = g_h.sum(0)
        for i, (p, g) in enumerate(zip(params, [g_w1, g_b1, g_w2, g_b2], strict=True)):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            p -= lr * (m[i] / (1 - beta1**t)) / (np.sqrt(v[i] / (1 - beta2**t)) + 1e-8)
    acts: np.ndarray = np.maximum(x @ w1 + b1, 0).astype(np.float32)
    return acts
