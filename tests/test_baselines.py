"""The TAG "best constant interval" baseline: branch and bound gives the grid search's interval and value exactly
(the first maximum in (start, end) order), and on the real VAU-Bench annotations it takes seconds, not minutes."""

import os
import random
import time

import numpy as np
import pytest

from vauflow.io import read_jsonl
from vauflow.tasks import tag
from vauflow.tasks.tag import _best_constant_interval_grid, best_constant_interval, tiou

from conftest import SHARED

REAL = SHARED / "vau-bench"


def rows(*gts, scored=True):
    return [{"gt": list(g), "scored": scored} for g in gts]


def grid_pair(points, train):
    """The grid search's argmax over the given points (the reference, without the test side)."""
    return max(((s, e) for s in points for e in points if e > s), key=lambda c: sum(tiou(c, g) for g in train))


def random_gt(rng, hi, grid):
    kind = rng.random()
    if kind < 0.3:  # on grid points
        s = rng.randrange(int(hi / grid)) * grid
        return [s, s + rng.randrange(1, 6) * grid]
    if kind < 0.45:  # degenerate: start == end (scored, contributes nothing, but sets the grid's end)
        s = round(rng.uniform(0, hi), 1)
        return [s, s]
    if kind < 0.6:  # shorter than a grid step
        s = round(rng.uniform(0, hi), 2)
        return [s, round(s + rng.uniform(0.01, grid), 2)]
    s, e = sorted(round(rng.uniform(0, hi), rng.choice((0, 1, 3))) for _ in range(2))
    return [s, e]


@pytest.mark.parametrize("seed", range(6))
def test_equals_grid_search_on_random_inputs(seed):
    rng = random.Random(seed)
    for case in range(60):
        grid = rng.choice((0.5, 0.5, 1, 0.25, 0.1))
        hi = rng.choice((3, 8, 15, 35)) if grid >= 0.5 else rng.choice((2, 6))
        n = rng.choice((1, 1, 2, 3, 5, 8))
        gts = [random_gt(rng, hi, grid) for _ in range(n)]
        if rng.random() < 0.3:  # duplicates: ties between symmetric neighbours
            gts += rng.sample(gts, k=min(len(gts), 2))
        if all(e <= s for s, e in gts) and rng.random() < 0.5:
            gts.append([0.0, grid])  # mostly, at least one real interval
        train = rows(*gts)
        # rows that are not scored are ignored, even ones ending far beyond the scored rows (they would widen the grid)
        train += rows([-1.0, -1.0], [0.0, 10 * hi], scored=False)
        rng.shuffle(train)
        test = rows(*(random_gt(rng, hi, grid) for _ in range(3))) + rows([-1.0, -1.0], scored=False)
        if max(e for s, e in gts) < grid:
            with pytest.raises(ValueError):
                _best_constant_interval_grid(train, test, grid)
            with pytest.raises(ValueError):
                best_constant_interval(train, test, grid)
            continue
        expected = _best_constant_interval_grid(train, test, grid)
        assert best_constant_interval(train, test, grid) == expected, (seed, case, grid, gts)
        # every starting split of the blocks, down to one block for the whole grid
        scored = [r["gt"] for r in train if r["scored"]]
        points = [i * grid for i in range(int(max(e for _, e in scored) / grid) + 1)]
        for side in (1, 2, 3, 5):
            assert tag._best_pair(points, scored, side=side) == expected[1], (seed, case, side, gts)


def test_ties_keep_the_first_maximum():
    train = rows([0, 1], [2, 3])  # (0, 1) and (2, 3) both score 1
    assert best_constant_interval(train, train) == _best_constant_interval_grid(train, train) == (0.5, (0.0, 1.0))
    train = rows([2, 3], [0, 1], [4, 5])  # three tied; the order of the rows does not matter, the grid order does
    assert best_constant_interval(train, train)[1] == _best_constant_interval_grid(train, train)[1] == (0.0, 1.0)
    # (0, 1), (0, 2) and (1, 2) tie at 0.5 (every other pair scores less); [2, 2] only extends the grid to 2
    train = rows([1.25, 1.75], [0.25, 0.75], [2, 2])
    assert best_constant_interval(train, train) == _best_constant_interval_grid(train, train) == (0.5 / 3, (0.0, 1.0))
    train = rows([3, 3], [1.2, 1.2])  # only degenerate intervals: every pair scores 0, the first pair wins
    assert best_constant_interval(train, train) == _best_constant_interval_grid(train, train) == (0.0, (0.0, 0.5))


def test_single_row_and_no_scored_rows():
    train = rows([2.0, 4.0]) + rows([-1.0, -1.0], scored=False)
    assert best_constant_interval(train, train) == _best_constant_interval_grid(train, train) == (1.0, (2.0, 4.0))
    one = rows([1.3, 7.7])
    assert best_constant_interval(one, one) == _best_constant_interval_grid(one, one)
    with pytest.raises(ValueError):
        best_constant_interval(rows([-1.0, -1.0], scored=False), one)


def numpy_grid_pair(points, train):
    """The grid search's argmax by an independent route: every pair's sum in numpy, then the pairs within 1e-9 of
    the best re-scored with the reference's own sum, in (start, end) order."""
    p = np.asarray(points, dtype=float)
    gs, ge = (np.array([float(g[k]) for g in train]) for k in (0, 1))
    s, e = (a.ravel() for a in np.meshgrid(p, p, indexing="ij"))
    s, e = s[e > s], e[e > s]
    inter = np.maximum(0.0, np.minimum(e[:, None], ge) - np.maximum(s[:, None], gs))
    union = np.maximum(e[:, None], ge) - np.minimum(s[:, None], gs)
    v = np.where(ge > gs, inter / np.where(ge > gs, union, 1.0), 0.0).sum(1)
    near = np.flatnonzero(v >= v.max() - 1e-9)
    return grid_pair_among([(float(s[k]), float(e[k])) for k in near], train)


def grid_pair_among(pairs, train):
    return max(sorted(pairs), key=lambda c: sum(tiou(c, g) for g in train))


def test_long_grid_equals_every_pair():
    """1,201 grid points (720k pairs), most of them far from the training intervals: pruned blocks lose nothing."""
    rng = random.Random(7)
    gts = [sorted(round(rng.uniform(0, 40), 1) for _ in range(2)) for _ in range(30)]
    gts += [[0.0, 600.0], [250.0, 252.5], [250.0, 252.5], [249.5, 253.0]]
    train = rows(*gts)
    t0 = time.perf_counter()
    value, best = best_constant_interval(train, train)
    assert time.perf_counter() - t0 < 10
    points = [i * 0.5 for i in range(1201)]
    assert best == numpy_grid_pair(points, gts)
    assert value == sum(tiou(best, g) for g in gts) / len(gts)


# -- the real VAU-Bench annotations ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_tag(tmp_path_factory):
    """{split: tag rows} built from the real annotation CSVs (../shared/vau-bench); CI must have them."""
    if not REAL.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{REAL} is absent: CI must provide the real VAU-Bench annotations")
        pytest.skip(f"{REAL} is absent: real VAU-Bench annotations unavailable")
    from vauflow.vaubench.build import build

    ann, out = tmp_path_factory.mktemp("ann"), tmp_path_factory.mktemp("built")
    for csv in REAL.glob("*.csv"):
        (ann / csv.name).symlink_to(csv)
    build(ann, out)
    return {d.name: read_jsonl(d / "tag.jsonl") for d in out.iterdir() if d.is_dir()}


def tag_train(real_tag):
    """TAG trains on MSAD + ECVA: their rows of val.csv."""
    return [r for r in real_tag["val"] if r["dataset"] in ("msad", "ecva")]


def test_real_splits_fast_and_valid(real_tag):
    train = tag_train(real_tag)
    hi = max(r["gt"][1] for r in train if r["scored"])
    splits = sorted(s for s in real_tag if s.startswith("test_"))
    assert splits
    for split in splits:
        t0 = time.perf_counter()
        value, (s, e) = best_constant_interval(train, real_tag[split])
        assert time.perf_counter() - t0 < 30, split  # the goal (<= 5 s) is measured by bench/suite.py
        assert 0 <= s < e <= hi and s % 0.5 == 0 and e % 0.5 == 0, (split, s, e)
        test = [r["gt"] for r in real_tag[split] if r["scored"]]
        assert test and 0 < value <= 1
        assert value == sum(tiou((s, e), g) for g in test) / len(test)


def test_real_subproblems_equal_grid_search(real_tag):
    train = [r for r in tag_train(real_tag) if r["scored"]]
    test = real_tag["test_ecva"]
    # 40 training rows ending within 100 s: the full 0.5 s grid of that range
    short = [r for r in train if r["gt"][1] <= 100]
    sample = random.Random(0).sample(short, 40)
    assert best_constant_interval(sample, test) == _best_constant_interval_grid(sample, test)
    # every training row, on a 64 s grid (89 points: more than 64 a side, so blocks are pruned)
    assert best_constant_interval(train, test, grid=64) == _best_constant_interval_grid(train, test, grid=64)
