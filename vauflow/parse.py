"""Parse model completions. One module for the rewards (vauflow.rewards) and the metrics, so training and
evaluation can never disagree on what an answer is. Rules (spec vau-r1.md §4, §8):

- the FIRST <answer> / <glue> is the one parsed, everywhere; more than one makes the format invalid;
- rewards are strict (one canonical answer, so echoing the option list earns nothing);
- metrics follow the paper's lenient fall-back chains (qa_letter_lenient, tag_interval_lenient, cls_class_lenient).
"""

import re

from vauflow.vaubench.schema import CLASSES, parse_time

ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)
GLUE = re.compile(r"<glue>(.*?)</glue>", re.S)
INTERVAL = re.compile(r"^\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]$")
THINK_ANSWER = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.S)
THINK_ANSWER_GLUE = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>\s*<glue>.*?</glue>", re.S)
ANSWER_ONLY = re.compile(r"<answer>.*?</answer>", re.S)
GLUE_ONLY = re.compile(r"<glue>.*?</glue>", re.S)
# upstream extract_characters_regex strips these before looking for the letter
ANSWER_PREFIXES = ("The best answer is", "The correct answer is", "The answer is", "The answer",
                   "The best option is", "The correct option is", "Best answer:", "Best option:")
NO_INTERVAL = (-1.0, -1.0)


def text_of(completion):
    """A completion as TRL passes it: a string, or a conversational [{"role": "assistant", "content": ...}]."""
    if isinstance(completion, str):
        return completion
    return "".join(m["content"] if isinstance(m["content"], str) else
                   "".join(c.get("text", "") for c in m["content"]) for m in completion)


def first_answer(text):
    m = ANSWER.search(text)
    return m.group(1) if m else None


def first_glue(text):
    m = GLUE.search(text)
    return m.group(1) if m else None


def tag_counts_ok(text, tags):
    """Each tag opens and closes exactly once."""
    return all(text.count(f"<{t}>") == 1 and text.count(f"</{t}>") == 1 for t in tags)


def well_formed(text, pattern, tags):
    s = text.strip()
    return bool(pattern.fullmatch(s)) and tag_counts_ok(s, tags)


def interval(content):
    """[s, e] in seconds from a strict '[s, e]' string with s <= e, else None."""
    m = INTERVAL.match((content or "").strip())
    if not m:
        return None
    s, e = float(m.group(1)), float(m.group(2))
    return (s, e) if s <= e else None


def tiou(pred, gt):
    """Temporal IoU with the VAU-R1 conventions: [-1, -1] means "no anomaly"; both none → 1, one none → 0;
    a degenerate prediction (start == end) → 0."""
    pred, gt = tuple(map(float, pred)), tuple(map(float, gt))
    if pred == NO_INTERVAL or gt == NO_INTERVAL:
        return float(pred == gt)
    union = max(pred[1], gt[1]) - min(pred[0], gt[0])
    if pred[1] <= pred[0] or union <= 0:
        return 0.0
    inter = max(0.0, min(pred[1], gt[1]) - max(pred[0], gt[0]))
    return inter / union


# -- strict parsers (rewards) --------------------------------------------------------------------------------
def strip_prefixes(content):
    c = content.strip()
    for p in ANSWER_PREFIXES:
        if c.startswith(p):
            c = c[len(p):].strip(" :")
    return c


def qa_letter_strict(content, options=None):
    """'B', '(B)', 'B.' or 'B. <option B text>' → 'B'; anything else (an echoed option list, two letters,
    a letter with another option's text) → None."""
    if content is None:
        return None
    c = strip_prefixes(content)
    m = re.fullmatch(r"\(?([A-D])\)?\.?", c)
    if m:
        return m.group(1)
    m = re.fullmatch(r"\(?([A-D])[.:)]\s*(.+)", c, re.S)
    if m and options and _norm(m.group(2)) == _norm(options["ABCD".index(m.group(1))]):
        return m.group(1)
    return None


def ball_letter_strict(content, options):
    """'(A)', 'A' or '(A) Left to Right' (the label must be A's) → 'A'; else None."""
    if content is None:
        return None
    m = re.fullmatch(r"\(?([A-D])\)?\s*(.*)", content.strip(), re.S)
    if not m:
        return None
    letter, rest = m.groups()
    if rest and _norm(rest) != _norm(re.sub(r"^\([A-D]\)\s*", "", options["ABCD".index(letter)])):
        return None
    return letter


def _norm(s):
    return re.sub(r"[\s_]+", " ", s).strip().strip(".").lower()


def same_class(a, b):
    return a is not None and b is not None and _norm(a) == _norm(b)


# -- lenient parsers (metrics; spec §8) ----------------------------------------------------------------------
def qa_letter_lenient(text):
    """<answer>X</answer>, then a tag-like <X>, then the last standalone letter after </think>, then the last
    standalone letter anywhere; '' when nothing is found (scored wrong)."""
    m = re.search(r"<answer>\s*([A-D])\s*</answer>", text, re.I)
    if m:
        return m.group(1).upper()
    m = re.search(r"<\s*([A-D])\s*/?\s*>", text)
    if m:
        return m.group(1)
    standalone = r"(?<![A-Za-z0-9])([A-D])(?![A-Za-z0-9])"
    if "</think>" in text:
        found = re.findall(standalone, text.rsplit("</think>", 1)[1])
        if found:
            return found[-1]
    found = re.findall(standalone, text)
    return found[-1] if found else ""


def tag_interval_lenient(text):
    """First <glue>, else first [...]; seconds or MM:SS / HH:MM:SS; None when unparseable."""
    content = first_glue(text)
    if content is None:
        m = re.search(r"\[(.*?)\]", text, re.S)
        content = m.group(1) if m else None
    if content is None:
        return None
    fields = re.sub(r"[^0-9:.,-]", "", content).split(",")
    if len(fields) != 2:
        return None
    try:
        return parse_time(fields[0]), parse_time(fields[1])
    except ValueError:
        return None


_CLASS_PATTERNS = [(c, re.compile(r"\b" + r"[_\s]*".join(map(re.escape, re.split(r"[_\s]+", c))) + r"\b", re.I))
                   for c in CLASSES]


def cls_class_lenient(text):
    """The first of the 20 class names found in the first <answer> (or the whole text without one)."""
    content = first_answer(text)
    content = text if content is None else content
    hits = [(m.start(), c) for c, p in _CLASS_PATTERNS if (m := p.search(content))]
    return min(hits)[1] if hits else None
