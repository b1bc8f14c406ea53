"""The grammar of completions every task shares (its own parsers live in vauflow/tasks/<task>.py, used by its
rewards and its metric alike, so training and evaluation never disagree on what an answer is). Rules (spec
vau-r1.md §4, §8):

- the FIRST <answer> / <glue> is the one parsed, everywhere; more than one makes the format invalid;
- rewards are strict (one canonical answer, so echoing the option list earns nothing);
- metrics follow the paper's lenient fall-back chains (each task's `*_lenient` / `*_upstream` parsers).
"""

import re

ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)
GLUE = re.compile(r"<glue>(.*?)</glue>", re.S)
THINK_ANSWER = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.S)
THINK_ANSWER_GLUE = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>\s*<glue>.*?</glue>", re.S)
ANSWER_ONLY = re.compile(r"<answer>.*?</answer>", re.S)
GLUE_ONLY = re.compile(r"<glue>.*?</glue>", re.S)


def text_of(completion):
    """A completion as TRL passes it: a string, or a conversational [{"role": "assistant", "content": ...}]."""
    if isinstance(completion, str):
        return completion
    return "".join(
        m["content"] if isinstance(m["content"], str) else "".join(c.get("text", "") for c in m["content"])
        for m in completion
    )


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


def norm(s):
    """A label compared loosely: case, `_` and spaces, a trailing full stop ignored."""
    return re.sub(r"[\s_]+", " ", s).strip().strip(".").lower()


def same_class(a, b):
    return a is not None and b is not None and norm(a) == norm(b)
