"""Synthetic VAU-Bench look-alikes in the exact 13-column CSV format.

Three sources with different looks (prefixes msad_/ucf_/ecva_ in train/val only, as upstream). Every clip shows
background activity (walkers); an anomalous clip also shows its class's distinct event (own shape, colour and
motion) exactly while Start Time <= t <= End Time, and nowhere else. Names, questions and option order carry no
label: the answer is in the frames and only there. Real-data quirks are injected at configurable rates.
"""

import csv
import io
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from vauflow.annotation import COLUMNS
from vauflow.io import sha256_file, write_json, write_text
from vauflow.synth.encode import write_mp4

# class -> (event sentence, key object, colour, shape)
EVENTS = {
    "Fire": ("flames flare up and flicker", "orange flames", (255, 120, 0), "flicker"),
    "Explosion": ("a bright blast expands outwards", "expanding bright flash", (255, 80, 160), "ring"),
    "Fighting": ("two people grapple and strike each other", "two people fighting", (220, 30, 30), "pair"),
    "Traffic_accident": ("two vehicles collide", "colliding vehicles", (40, 90, 255), "collide"),
    "Robbery": ("a person snatches a bag and runs off", "fleeing robber", (230, 0, 230), "dash"),
    "Water_incident": ("a person struggles in water", "person in water", (0, 230, 230), "bob"),
    "Vandalism": ("someone smashes an object", "smashed object", (150, 255, 60), "cross"),
    "Stealing": ("a person takes an item and hides it", "stolen item", (255, 215, 0), "square"),
}
NORMAL_SENTENCE = "Nothing unusual happens; the scene stays normal"
QUESTIONS = [
    "What unusual event, if any, happens in this video?",
    "Which of the following best describes what happens in the video?",
    "What is the key event observed in the video?",
]
LOOKS = {  # per-source appearance: base colour, gradient, noise
    0: {"name": "street", "base": (90, 90, 95), "grad": 40, "noise": 0},
    1: {"name": "grainy CCTV", "base": (45, 50, 45), "grad": 10, "noise": 14},
    2: {"name": "dashcam", "base": (60, 80, 120), "grad": 60, "noise": 4},
}
LOCATIONS = ["upper-left", "upper-right", "lower-left", "lower-right", "centre"]


def _background(look, size, rng):
    g = np.linspace(0, look["grad"], size)[:, None, None]
    bg = np.clip(np.array(look["base"])[None, None, :] + g + np.zeros((size, size, 3)), 0, 255)
    for _ in range(3):  # static scenery blocks
        x, y = rng.integers(0, size - 12, 2)
        w, h = rng.integers(6, 14, 2)
        bg[y : y + h, x : x + w] = np.clip(bg[y : y + h, x : x + w] * 0.6, 0, 255)
    return bg.astype(np.float32)


def _disc(img, x, y, r, colour):
    s = img.shape[0]
    yy, xx = np.ogrid[:s, :s]
    img[(xx - x) ** 2 + (yy - y) ** 2 <= r * r] = colour


def _rect(img, x, y, w, h, colour):
    s = img.shape[0]
    x0, y0 = max(0, int(x)), max(0, int(y))
    img[y0 : min(s, int(y + h)), x0 : min(s, int(x + w))] = colour


def _draw_event(img, shape, colour, cx, cy, phase):
    """phase in [0,1] through the event; each class has its own shape and motion."""
    if shape == "flicker":
        _disc(img, cx, cy, 7 + 2 * np.sin(phase * 25), colour)
        _disc(img, cx, cy - 5, 4, (255, 220, 0))
    elif shape == "ring":
        r = 4 + 10 * phase
        _disc(img, cx, cy, r, colour)
        _disc(img, cx, cy, max(0, r - 4), (255, 255, 255))
    elif shape == "pair":
        d = 3 * np.sin(phase * 30)
        _rect(img, cx - 9 + d, cy - 7, 7, 14, colour)
        _rect(img, cx + 2 - d, cy - 7, 7, 14, (255, 140, 140))
    elif shape == "collide":
        d = max(0.0, 12 * (1 - 2 * phase))
        _rect(img, cx - 12 - d, cy - 4, 11, 8, colour)
        _rect(img, cx + 1 + d, cy - 4, 11, 8, (40, 200, 60))
    elif shape == "dash":
        _rect(img, cx - 14 + 28 * phase, cy - 7, 7, 14, colour)
    elif shape == "bob":
        _disc(img, cx, cy + 3 * np.sin(phase * 20), 6, colour)
        _rect(img, cx - 12, cy + 5, 24, 3, (0, 60, 200))
    elif shape == "cross":
        _rect(img, cx - 9, cy - 2, 18, 5, colour)
        _rect(img, cx - 2, cy - 9, 5, 18, colour)
    elif shape == "square":
        _rect(img, cx - 6, cy - 6, 12, 12, colour)
        _rect(img, cx - 2 + 6 * phase, cy - 2, 4, 4, (40, 40, 40))


def _draw_scaled_event(img, shape, colour, cx, cy, phase, scale):
    """The event grown by 4 px per extra scale step in its main colour (same place, same motion), so it covers
    whole visual tokens of a few-token tiny model."""
    if scale == 1:
        _draw_event(img, shape, colour, cx, cy, phase)
        return
    layer = np.full(img.shape, -1.0, np.float32)
    _draw_event(layer, shape, colour, cx, cy, phase)
    drawn = (layer >= 0).all(-1)
    d = 4 * (scale - 1)
    rows = sliding_window_view(np.pad(drawn, d), 2 * d + 1, axis=1).any(-1)
    grown = sliding_window_view(rows, 2 * d + 1, axis=0).any(-1)  # square dilation, frame-sized again
    img[grown & ~drawn] = colour
    img[drawn] = layer[drawn]


def render_clip(look, size, n_frames, fps, event, interval, rng, event_scale=1):
    bg = _background(look, size, rng)
    walkers = [
        (rng.uniform(0, size), rng.uniform(size * 0.3, size - 10), rng.uniform(-1.2, 1.2), rng.integers(100, 150))
        for _ in range(int(rng.integers(1, 4)))
    ]
    cx, cy = rng.uniform(16, size - 16, 2)
    frames = np.empty((n_frames, size, size, 3), np.uint8)
    for i in range(n_frames):
        img = bg.copy()
        for x0, y0, v, grey in walkers:
            _rect(img, (x0 + v * i) % size, y0, 3, 7, (grey, grey, grey))
        t = i / fps
        if event is not None and interval[0] <= t <= interval[1]:
            phase = (t - interval[0]) / max(interval[1] - interval[0], 1e-6)
            _draw_scaled_event(img, EVENTS[event][3], EVENTS[event][2], cx, cy, phase, event_scale)
        if look["noise"]:
            img = img + rng.normal(0, look["noise"], img.shape)
        frames[i] = np.clip(img, 0, 255).astype(np.uint8)
    return frames, (cx, cy)


def _location(cx, cy, size):
    if abs(cx - size / 2) < size / 6 and abs(cy - size / 2) < size / 6:
        return "centre"
    return ("upper" if cy < size / 2 else "lower") + "-" + ("left" if cx < size / 2 else "right")


def _reasoning(cls, look, loc, interval, style):
    if cls == "Normal":
        sections = {
            "Specific Anomaly Type": "None",
            "Location": f"{look['name']} scene",
            "Key Evidence": "only people walking by",
            "Detailed Explanation": "No event departs from the routine background activity.",
            "Cause and Effect": "No cause of concern is visible, and nothing follows from it.",
            "Conclusion": "The video is normal.",
        }
    else:
        sentence, key, _, _ = EVENTS[cls]
        sections = {
            "Specific Anomaly Type": cls,
            "Location": f"{look['name']} scene, {loc} of the frame",
            "Key Evidence": f"{key} from {interval[0]:.1f} s to {interval[1]:.1f} s",
            "Detailed Explanation": f"In the {loc} of the frame {sentence}, unlike the routine walking around it.",
            "Cause and Effect": f"Because {sentence}, the scene is disrupted while it lasts.",
            "Conclusion": f"The video shows {cls.replace('_', ' ').lower()}, an anomaly.",
        }
    if style == "dict":
        return str(sections)
    return " ".join(f"### {k}: {v}" for k, v in sections.items())


def generate(cfg, seed, sources, videos_root, annotations_dir):
    """sources: {name: {prefix, test_split, dataset}}. Writes videos under videos_root/<dataset>/ and the CSVs."""
    rng = np.random.default_rng([seed, 2])
    classes = list(cfg["classes"])
    unknown = [c for c in classes if c not in EVENTS]
    if unknown:
        raise ValueError(f"synthetic classes without an event renderer: {unknown}")
    names = list(sources)
    quirks = cfg["quirks"]
    size, fps = cfg["frame_size"], cfg["fps"]
    csv_rows = {"train": [], "val": []} | {sources[n]["test_split"]: [] for n in names}
    records = []
    for si, name in enumerate(names):
        src = sources[name]
        look = LOOKS[si % len(LOOKS)]
        plan = [
            ("train", cfg["per_source"]["train"]),
            ("val", cfg["per_source"]["val"]),
            (src["test_split"], cfg["per_source"]["test"]),
        ]
        total = sum(n for _, n in plan)
        ids = rng.permutation(total)  # video numbers carry neither split nor class
        k = 0
        for split, n in plan:
            is_test = split not in ("train", "val")
            labels = _split_labels(classes, n, cfg["anomaly_fraction"])
            rng.shuffle(labels)
            for cls in labels:
                stem = f"v{int(ids[k]):05d}.mp4"
                k += 1
                dur = float(rng.uniform(*cfg["duration_s"]))
                n_frames = max(8, int(round(dur * fps)))
                dur = n_frames / fps
                if cls == "Normal":
                    interval = (0.0, 0.0)
                else:
                    # on the half-second grid the training frames are sampled on (2 fps)
                    length = max(0.5, round(2 * rng.uniform(*cfg["event_fraction"]) * dur) / 2)
                    start = round(2 * float(rng.uniform(0.0, dur - length))) / 2
                    interval = (start, min(start + length, dur))
                frames, (cx, cy) = render_clip(
                    look, size, n_frames, fps, None if cls == "Normal" else cls, interval, rng, cfg["event_scale"]
                )
                write_mp4(Path(videos_root) / src["dataset"] / stem, frames, fps)
                row = _csv_row(cls, look, interval, _location(cx, cy, size), classes, rng, split)
                row["Video Name"] = stem if is_test else src["prefix"] + stem
                quirk = _inject_quirks(row, cls, name, split, is_test, quirks, rng)
                csv_rows[split].append(row)
                records.append(
                    {
                        "source": name,
                        "dataset": src["dataset"],
                        "split": split,
                        "video": stem,
                        "class": cls,
                        "interval": list(interval),
                        "frames": n_frames,
                        "fps": fps,
                        "event_centre": [round(float(cx), 1), round(float(cy), 1)],
                        "quirk": quirk,
                    }
                )
    Path(annotations_dir).mkdir(parents=True, exist_ok=True)
    for split, rows in csv_rows.items():
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        write_text(Path(annotations_dir) / f"{split}.csv", buf.getvalue())
    manifest = {
        "generator": "vauflow.synth.vau",
        "seed": seed,
        "params": cfg,
        "sources": sources,
        "clips": records,
        "files": {
            f"{r['dataset']}/{r['video']}": sha256_file(Path(videos_root) / r["dataset"] / r["video"]) for r in records
        },
    }
    write_json(Path(annotations_dir).parent / "vaubench-manifest.json", manifest)
    return manifest


def _split_labels(classes, n, anomaly_fraction):
    """Labels of one split, balanced. By default (anomaly_fraction None) Normal is one class among equals: with
    distractors drawn uniformly from the other labels, every option text is then the answer 1 time in 4 wherever
    it is shown, so the QA text alone predicts nothing (a 50 % Normal share would make "Nothing unusual" the
    answer most times it appears: a text-only model would score well above chance)."""
    if anomaly_fraction is None:
        labels = classes + ["Normal"]
        return [labels[i % len(labels)] for i in range(n)]
    n_anom = int(round(n * anomaly_fraction))
    return [classes[i % len(classes)] for i in range(n_anom)] + ["Normal"] * (n - n_anom)


def _csv_row(cls, look, interval, loc, classes, rng, split):
    """QA: the answer and 3 distractors drawn uniformly from the other labels, listed in the fixed label order
    (classes, then Normal). Given the option texts every shown option is equally likely the answer (tested); the
    letter is the answer's rank among them, so a model that recognises the event can answer from the video, and
    one that also reads the options can answer every time."""
    labels = classes + ["Normal"]
    others = [c for c in labels if c != cls]
    shown = sorted([cls] + [others[i] for i in rng.choice(len(others), 3, replace=False)], key=labels.index)
    options = [NORMAL_SENTENCE if c == "Normal" else EVENTS[c][0].capitalize() for c in shown]
    pos = shown.index(cls)
    key = "people walking" if cls == "Normal" else EVENTS[cls][1]
    if cls == "Normal":
        desc = f"A {look['name']} scene with people walking by. {NORMAL_SENTENCE}."
    else:
        desc = (
            f"A {look['name']} scene with people walking by. In the {loc} of the frame "
            f"{EVENTS[cls][0]} from {interval[0]:.1f} s to {interval[1]:.1f} s."
        )
    style = "dict" if split in ("test_ecva", "test_ucf_crime") else "markdown"
    return {
        "Question": QUESTIONS[int(rng.integers(len(QUESTIONS)))],
        "Option 1": options[0],
        "Option 2": options[1],
        "Option 3": options[2],
        "Option 4": options[3],
        "Correct Option": "ABCD"[pos],
        "Key Object": key,
        "Description": desc,
        "Reasoning": _reasoning(cls, look, loc, interval, style),
        "Anomaly Class": cls,
        "Start Time": f"{interval[0]:.1f}",
        "End Time": f"{interval[1]:.1f}",
    }


def _inject_quirks(row, cls, source, split, is_test, q, rng):
    """Reproduce the real files' quirks (vau-r1.md §2.3-2.4). Returns the quirk name or None."""
    if source == "ucf_crime" and not is_test and cls != "Normal":
        row["Start Time"] = row["End Time"] = "-1.0"  # UCF-Crime train/val anomalies have no temporal labels
        return "ucf_unannotated"
    if is_test and rng.random() < q["full_text_option"]:
        letter = row["Correct Option"]
        row["Correct Option"] = f"{letter}. {row['Option ' + str('ABCD'.index(letter) + 1)]}"
        return "full_text_option"
    if is_test and source == "ucf_crime" and rng.random() < q["minus_one_qa"]:
        for col in COLUMNS[1:11]:
            row[col] = "-1"
        return "minus_one_qa"
    if is_test and cls != "Normal" and source != "msad" and rng.random() < q["unannotated_interval"]:
        row["Start Time"] = row["End Time"] = "-1.0"
        return "unannotated_interval"
    if is_test and cls == "Normal" and source == "ecva" and rng.random() < q["normal_nonzero_interval"]:
        row["Start Time"], row["End Time"] = "1.0", "3.0"
        return "normal_nonzero_interval"
    return None


def main(a):
    """`vauflow synth vau`."""
    m = generate(a.params, a.seed, a.sources, a.videos_root, a.annotations)
    print(f"synth-vau: {len(m['clips'])} clips -> {a.videos_root}")
