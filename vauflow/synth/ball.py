"""The moving-ball set of Qwen2.5VL-R1, done right.

4 classes (left->right, right->left, falling, ascending). Unlike the original (a 40 px ball leaving a 64 px frame
after 20 of 30 frames), the whole trajectory stays inside the frame, so every frame any sampler takes shows the
ball. Start, speed, radius and colour are random; `blur` (along the motion axis) and `crop` (one crop per clip,
chosen so the trajectory stays in view) apply with a probability per clip. Seeded; a manifest records everything.
"""

import json
from pathlib import Path

import numpy as np

from vauflow.io import UsageError, sha256_file, write_json, write_jsonl, write_text
from vauflow.synth.encode import write_mp4
from vauflow.tasks.ball import CLASSES, LABELS, LETTERS, QUESTION

OPTIONS_TEXT = "Options:\n" + "\n".join(LABELS)
DIRECTION = {"left_to_right": (1, 0), "right_to_left": (-1, 0), "falling": (0, 1), "ascending": (0, -1)}


def _balanced_labels(n, rng):
    labels = [CLASSES[i % 4] for i in range(n)]
    rng.shuffle(labels)
    return labels


def trajectory(cls, size, n_frames, radius, speed, rng):
    """Centres (x, y) per frame; the ball (radius r) stays fully inside the frame for the whole clip."""
    dx, dy = DIRECTION[cls]
    travel = speed * (n_frames - 1)
    lo, hi = radius + 1, size - radius - 2
    along0 = rng.uniform(lo, hi - travel)
    across = rng.uniform(lo, hi)
    t = np.arange(n_frames)
    along = along0 + speed * t
    if (dx, dy) in ((-1, 0), (0, -1)):
        along = (lo + hi) - along  # mirror: same path, reversed direction
    xs, ys = (along, np.full(n_frames, across)) if dx else (np.full(n_frames, across), along)
    return np.stack([xs, ys], 1)


def render(centres, size, radius, colour, background):
    yy, xx = np.mgrid[0:size, 0:size]
    frames = np.empty((len(centres), size, size, 3), np.uint8)
    for k, (x, y) in enumerate(centres):
        img = np.empty((size, size, 3), np.uint8)
        img[:] = background
        img[(xx - x) ** 2 + (yy - y) ** 2 <= radius**2] = colour
        frames[k] = img
    return frames


def motion_blur(frames, axis, k):
    """Box blur of width k along the motion axis (1 = x, 0 = y), same kernel on every frame."""
    out = frames.astype(np.float32)
    pad = [(0, 0)] * 4
    pad[axis + 1] = (k // 2, k // 2)
    p = np.pad(out, pad, mode="edge")
    acc = np.zeros_like(out)
    for s in range(k):
        sl = [slice(None)] * 4
        sl[axis + 1] = slice(s, s + out.shape[axis + 1])
        acc += p[tuple(sl)]
    return np.clip(acc / k + 0.5, 0, 255).astype(np.uint8)


def crop_clip(frames, centres, radius, frac, rng):
    """One crop window for the whole clip, containing the full trajectory, resized back to the frame size."""
    from PIL import Image

    t, size = frames.shape[0], frames.shape[1]
    x0, y0 = centres.min(0) - radius - 1
    x1, y1 = centres.max(0) + radius + 2
    x0, y0, x1, y1 = max(0, int(x0)), max(0, int(y0)), min(size, int(np.ceil(x1))), min(size, int(np.ceil(y1)))
    side = min(size, int(np.ceil(max(frac * size, x1 - x0, y1 - y0))))
    while max(x1 - side, y1 - side, 0) > min(x0, y0, size - side):
        side += 1  # rounding left the trajectory wider than the window: grow until it fits
    cx = int(rng.integers(max(0, x1 - side), min(x0, size - side) + 1))
    cy = int(rng.integers(max(0, y1 - side), min(y0, size - side) + 1))
    out = np.empty_like(frames)
    for k in range(t):
        img = Image.fromarray(frames[k, cy : cy + side, cx : cx + side])
        out[k] = np.asarray(img.resize((size, size), Image.BILINEAR))
    scale = size / side
    return out, (centres - [cx, cy]) * scale, [cx, cy, side]


def cot_text(cls, centres, n_frames):
    (x0, y0), (x1, y1) = centres[0], centres[-1]
    axis = "horizontal" if cls in ("left_to_right", "right_to_left") else "vertical"
    first, last = (x0, x1) if axis == "horizontal" else (y0, y1)
    trend = "increases" if last > first else "decreases"
    label = LABELS[CLASSES.index(cls)]
    return (
        f"<think>In the first frame the ball is at x={x0:.0f}, y={y0:.0f}; in frame {n_frames} it is at "
        f"x={x1:.0f}, y={y1:.0f}. Its {axis} position {trend} while the other coordinate stays the same, "
        f"so the answer is {label}.</think><answer>{label}</answer>"
    )


def generate(cfg, seed, videos_dir, annotations_dir, llm_client=None):
    """Write videos, LLaVA-style train.json/val.json, our jsonl format and a manifest. Returns the manifest.
    With cfg["cot_source"] == "llm", `llm_client` (vauflow.llm.ChatClient) writes the rationales."""
    videos_dir, annotations_dir = Path(videos_dir), Path(annotations_dir)
    videos_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 1])
    size, n_frames, fps = cfg["frame_size"], cfg["n_frames"], cfg["fps"]
    rows, idx = {"train": [], "val": []}, 0
    for split in ("train", "val"):
        for cls in _balanced_labels(cfg[f"n_{split}"], rng):
            radius = int(rng.integers(cfg["radius"][0], cfg["radius"][1] + 1))
            max_speed = (size - 2 * radius - 3) / (n_frames - 1)
            speed = float(rng.uniform(cfg["speed"][0], min(cfg["speed"][1], max_speed)))
            centres = trajectory(cls, size, n_frames, radius, speed, rng)
            colour = (rng.integers(120, 256, 3)).tolist()
            background = (rng.integers(0, 40, 3)).tolist()
            frames = render(centres, size, radius, colour, background)
            aug = {}
            if rng.random() < cfg["augment"]["crop"]:
                frac = float(rng.uniform(*cfg["crop_frac"]))
                frames, centres, window = crop_clip(frames, centres, radius, frac, rng)
                aug["crop"] = window
            if rng.random() < cfg["augment"]["blur"]:
                k = int(rng.choice([3, 5]))
                frames = motion_blur(frames, 1 if DIRECTION[cls][0] else 0, k)
                aug["blur"] = k
            name = f"{idx:04d}.mp4"
            idx += 1
            write_mp4(videos_dir / name, frames, fps)
            letter = LETTERS[CLASSES.index(cls)]
            rows[split].append(
                {
                    "id": f"ball/{split}/{name}",
                    "video": name,
                    "split": split,
                    "label": cls,
                    "letter": letter,
                    "answer_text": LABELS[CLASSES.index(cls)],
                    "question": QUESTION,
                    "options": LABELS,
                    "cot": cot_text(cls, centres, n_frames),
                    "_centres": centres,
                    "params": {
                        "radius": radius,
                        "speed_px_per_frame": round(speed, 3),
                        "start": [round(float(c), 2) for c in centres[0]],
                        "end": [round(float(c), 2) for c in centres[-1]],
                        "colour": colour,
                        "background": background,
                        "augment": aug,
                    },
                }
            )
    cot_sources = {"template": sum(map(len, rows.values()))}
    if cfg.get("cot_source", "template") == "llm":
        from vauflow.synth.ball_cot import write_rationales

        if llm_client is None:
            raise UsageError("synthetic.ball.cot_source is llm but no LLM client was given")
        cot_sources = write_rationales(
            [r for rs in rows.values() for r in rs],
            llm_client,
            size,
            n_frames,
            lambda r: cot_text(r["label"], r["_centres"], n_frames),
        )
    for rs in rows.values():
        for r in rs:
            del r["_centres"]
    for split, rs in rows.items():
        write_jsonl(annotations_dir / split / "ball.jsonl", rs)  # VAU-Bench's layout: <split>/<task>.jsonl
        write_text(annotations_dir / f"{split}.json", json.dumps([_llava(r, cfg["cot"]) for r in rs], indent=2) + "\n")
    manifest = {
        "generator": "vauflow.synth.ball",
        "seed": seed,
        "params": cfg,
        "counts": {s: {c: sum(r["label"] == c for r in rs) for c in CLASSES} for s, rs in rows.items()},
        "cot_sources": cot_sources,
        "files": {r["video"]: sha256_file(videos_dir / r["video"]) for rs in rows.values() for r in rs},
    }
    write_json(annotations_dir / "manifest.json", manifest)
    return manifest


def _llava(row, cot):
    answer = row["cot"].replace("</think><answer>", "</think>\n<answer>") if cot else f"Answer: {row['answer_text']}"
    return {
        "video": row["video"],
        "conversations": [
            {"from": "human", "value": f"<video>\n{QUESTION}\n{OPTIONS_TEXT}"},
            {"from": "gpt", "value": answer},
        ],
    }


def main(a):
    """`vauflow synth ball`."""
    client = None
    if a.params.get("cot_source") == "llm":
        from vauflow.llm import client_from_config

        client = client_from_config(a.llm, a.llm_cache)
    m = generate(a.params, a.seed, a.videos, a.annotations, llm_client=client)
    print(f"ball: {len(m['files'])} clips -> {a.videos}; rationales: {json.dumps(m['cot_sources'])}")
