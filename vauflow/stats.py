"""What every task's metric shares: prediction rows matched to ground truth by video, the majority baseline, and
the statistics (Wilson and bootstrap intervals, one-sided binomial p)."""

import collections
import math

import numpy as np


def majority_baseline(label, train_rows, test_rows):
    """Accuracy on the test rows of always answering the training rows' most common `label` (a column), and that
    answer."""
    top = collections.Counter(r[label] for r in train_rows).most_common(1)[0][0]
    return sum(r[label] == top for r in test_rows) / max(1, len(test_rows)), top


def binomial_p_above(k, n, p0):
    """One-sided P(X >= k) for X ~ Binomial(n, p0)."""
    return sum(math.comb(n, i) * p0**i * (1 - p0) ** (n - i) for i in range(k, n + 1))


# -- prediction files (the `vauflow eval metrics` contract) ----------------------------------------------------
# Each task's metric (vauflow/tasks/<task>.py) scores as the original scripts do (scoring="upstream": GVCLab/VAU-R1
# src/evaluation, evaluate_qa.py as fixed in 3356ef3) or with this project's parsers ("strict"), same keys.
SCORINGS = ("upstream", "strict")


def video_key(name):
    """Prediction rows match GT rows by Video Name; ".mp4" is implied when missing (as upstream)."""
    name = str(name).strip()
    return name if name.lower().endswith(".mp4") else name + ".mp4"


def responses_by_video(pred_rows):
    """{video: raw response}; a duplicated video keeps its first prediction (as upstream)."""
    out = {}
    for r in pred_rows:
        out.setdefault(video_key(r["video"]), r.get("response") or "")
    return out


def wilson(k, n, z=1.96):
    if n == 0:
        return [0.0, 1.0]
    p = k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [(centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)]


def bootstrap_mean(values, seed, n_boot=2000):
    """95 % percentile interval of the mean of `values` (paired differences are values too)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return [0.0, 0.0]
    idx = np.random.default_rng(seed).integers(0, len(v), (n_boot, len(v)))
    means = v[idx].mean(1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]
