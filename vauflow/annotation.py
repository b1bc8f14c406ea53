"""VAU-Bench annotation format: columns, classes, and parsers for every quirk of the real files."""

import ast
import re

COLUMNS = [
    "Video Name",
    "Question",
    "Option 1",
    "Option 2",
    "Option 3",
    "Option 4",
    "Correct Option",
    "Key Object",
    "Description",
    "Reasoning",
    "Anomaly Class",
    "Start Time",
    "End Time",
]
CLASSES = [
    "Abuse",
    "Agriculture",
    "Arrest",
    "Arson",
    "Assault",
    "Explosion",
    "Fighting",
    "Fire",
    "Food Safety",
    "Medical Abnormality",
    "Natural Hazard",
    "Normal",
    "Object_falling",
    "People_falling",
    "Robbery",
    "Shooting",
    "Stealing",
    "Traffic_accident",
    "Vandalism",
    "Water_incident",
]
# native names merged upstream (vau-r1.md §2.7)
CLASS_ALIASES = {
    "burglary": "Stealing",
    "shoplifting": "Stealing",
    "roadaccidents": "Traffic_accident",
    "road accidents": "Traffic_accident",
    "road dispute": "Assault",
}
REASONING_SECTIONS = [
    "Specific Anomaly Type",
    "Location",
    "Key Evidence",
    "Detailed Explanation",
    "Cause and Effect",
    "Conclusion",
]


def _norm(name):
    return re.sub(r"[\s_]+", " ", name.strip()).lower()


_CANON = {_norm(c): c for c in CLASSES} | {_norm(k): v for k, v in CLASS_ALIASES.items()}


def canonical_class(name):
    """The canonical class name (case-insensitive, `_` = space, native aliases merged), or None."""
    return _CANON.get(_norm(name or ""))


def answer_letter(correct_option):
    """Leading letter of `Correct Option` ('A' or 'D. Green trash bin ...'), or None."""
    m = re.match(r"\s*\(?([A-Da-d])\)?(?:[.:)\s]|$)", correct_option or "")
    return m.group(1).upper() if m else None


def is_missing(value):
    return value is None or value.strip() in ("", "-1", "-1.0")


def parse_time(text):
    """Float seconds from '12.5' or 'MM:SS' / 'HH:MM:SS'; ValueError otherwise."""
    t = (text or "").strip()
    if ":" in t:
        parts = [float(p) for p in t.split(":")]
        if len(parts) > 3:
            raise ValueError(t)
        secs = 0.0
        for p in parts:
            secs = secs * 60 + p
        return secs
    v = float(t)
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError(t)
    return v


def parse_reasoning(text):
    """The 6 sections from either serialisation (Python dict-string or '### Section: ...' markdown)."""
    t = (text or "").strip()
    if t.startswith("{"):
        try:
            d = ast.literal_eval(t)
        except (ValueError, SyntaxError):
            d = None
        if isinstance(d, dict):
            return {k: str(d.get(k, "")).strip() for k in REASONING_SECTIONS}, "dict"
    if "###" in t:
        out = {}
        pattern = "|".join(re.escape(s) for s in REASONING_SECTIONS)
        parts = re.split(rf"###\s*({pattern})\s*:?", t)
        for name, body in zip(parts[1::2], parts[2::2]):
            out.setdefault(name, body.strip())
        if out:
            return {k: out.get(k, "") for k in REASONING_SECTIONS}, "markdown"
    return None, "plain"
