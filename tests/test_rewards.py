"""Rewards and the shared parser: exact values, upstream bugs fixed, adversarial completions earn nothing."""

import pytest

from vauflow import tasks
from vauflow.tasks import ball, cls, qa, tag

OPTS = ["A person struggles in water", "Flames flare up", "Nothing unusual happens", "Two people fight"]
BALL_OPTS = ["(A) Left to Right", "(B) Right to Left", "(C) Falling Down", "(D) Ascending"]


def one(fn, completion, **cols):
    return fn([completion], **{k: [v] for k, v in cols.items()})[0]


@pytest.mark.parametrize(
    "completion,fmt,ans",
    [
        ("<think>the person is in water</think><answer>A</answer>", 1, 1),
        ("<think>x</think>\n<answer> A </answer>", 1, 1),
        ("<think>x</think><answer>(A)</answer>", 1, 1),
        ("<think>x</think><answer>A. A person struggles in water</answer>", 1, 1),  # letter + its own option text
        ("<think>x</think><answer>The answer is A</answer>", 1, 1),
        ("<think>x</think><answer>B</answer>", 1, 0),
        ("<answer>A</answer>", 0, 1),  # no think: format fails, answer still right
        ("<think>x</think><answer>A</answer><answer>B</answer>", 0, 1),  # two answers: format 0, the first is parsed
        ("<think>x</think><answer>B</answer><answer>A</answer>", 0, 0),
        # echoing the option list earns nothing
        (
            "<think>x</think><answer>A. A person struggles in water B. Flames flare up C. Nothing unusual happens "
            "D. Two people fight</answer>",
            1,
            0,
        ),
        ("<think>x</think><answer>A B C D</answer>", 1, 0),
        ("<think>x</think><answer>B. A person struggles in water</answer>", 1, 0),  # letter with another's text
        ("<think>x</think><answer>A</answer> trailing words", 0, 1),
        ("A", 0, 0),
        ("", 0, 0),
        ("<think><answer>A</answer></think><answer>A</answer>", 0, 1),
    ],
)
def test_qa_rewards(completion, fmt, ans):
    assert one(qa.format_reward, completion) == fmt
    assert one(qa.answer_reward, completion, answer="A", options=OPTS) == ans


def test_qa_answer_only_target_format():
    assert one(qa.format_reward, "<answer>C</answer>", target="answer") == 1
    assert one(qa.format_reward, "<think>x</think><answer>C</answer>", target="answer") == 0


@pytest.mark.parametrize(
    "completion,gt,label,fmt,iou,ans",
    [
        ("<think>t</think><answer>Anomaly</answer><glue>[2.0, 4.0]</glue>", [2.0, 4.0], "Anomaly", 1, 1.0, 1),
        ("<think>t</think><answer>Anomaly</answer><glue>[3.0, 5.0]</glue>", [2.0, 4.0], "Anomaly", 1, 1 / 3, 1),
        ("<think>t</think><answer>Normal</answer><glue>[-1.0, -1.0]</glue>", [-1.0, -1.0], "Normal", 1, 1.0, 1),
        # the upstream bug: normal GT was [0, 0], so the prompt's [-1, -1] scored 0 and [0, 0] scored 1
        ("<think>t</think><answer>Normal</answer><glue>[0.0, 0.0]</glue>", [-1.0, -1.0], "Normal", 1, 0.0, 1),
        ("<think>t</think><answer>Anomaly</answer><glue>[-1.0, -1.0]</glue>", [2.0, 4.0], "Anomaly", 1, 0.0, 1),
        ("<think>t</think><answer>Anomaly</answer><glue>[3.0, 3.0]</glue>", [2.0, 4.0], "Anomaly", 1, 0.0, 1),
        ("<think>t</think><answer>Anomaly</answer><glue>[5.0, 2.0]</glue>", [2.0, 4.0], "Anomaly", 0, 0.0, 1),
        ("<think>t</think><answer>Anomaly</answer><glue>2.0 to 4.0</glue>", [2.0, 4.0], "Anomaly", 0, 0.0, 1),
        ("<think>t</think><answer>Anomaly</answer><glue>[2.0, 4.0]</glue>.", [2.0, 4.0], "Anomaly", 0, 1.0, 1),
        (
            "<think>t</think><answer>Anomaly</answer><glue>[2.0, 4.0]</glue><glue>[0, 9]</glue>",
            [2.0, 4.0],
            "Anomaly",
            0,
            1.0,
            1,
        ),
        ("<think>t</think><answer>Normal Anomaly</answer><glue>[2.0, 4.0]</glue>", [2.0, 4.0], "Anomaly", 1, 1.0, 0),
        ("<think>t</think><answer>Normal</answer><glue>[2.0, 4.0]</glue>", [2.0, 4.0], "Anomaly", 1, 1.0, 0),
    ],
)
def test_tag_rewards(completion, gt, label, fmt, iou, ans):
    assert one(tag.format_reward, completion) == fmt
    assert one(tag.iou_reward, completion, gt=gt) == pytest.approx(iou)
    assert one(tag.answer_reward, completion, label=label) == ans


def test_tag_answer_only_format():
    assert one(tag.format_reward, "<glue>[1.5, 3.0]</glue>", target="answer") == 1
    assert one(tag.format_reward, "<glue>[1.5, 3.0]</glue>.", target="answer") == 0


@pytest.mark.parametrize(
    "completion,fmt,ans",
    [
        ("<think>x</think><answer>Traffic_accident</answer>", 1, 1),
        ("<think>x</think><answer>traffic accident</answer>", 1, 1),
        ("<think>x</think><answer>Fire</answer>", 1, 0),
        ("<think>x</think><answer>Traffic_accident, Fire, Normal</answer>", 1, 0),  # listing classes earns nothing
        ("<think>x</think><answer>['Abuse', 'Traffic_accident']</answer>", 1, 0),
        ("<think>x</think><answer>Traffic_accident</answer><answer>Fire</answer>", 0, 1),
    ],
)
def test_cls_rewards(completion, fmt, ans):
    assert one(cls.format_reward, completion) == fmt
    assert cls.answer_reward([completion], **{"class": ["Traffic_accident"]})[0] == ans


@pytest.mark.parametrize(
    "completion,ans",
    [
        ("<think>x</think><answer>(C) Falling Down</answer>", 1),
        ("<think>x</think><answer>(C)</answer>", 1),
        ("<think>x</think><answer>C</answer>", 1),
        ("<think>x</think><answer>(C) Left to Right</answer>", 0),  # letter and label disagree
        ("<think>x</think><answer>(A) Left to Right (B) Right to Left (C) Falling Down (D) Ascending</answer>", 0),
        ("<think>x</think><answer>Falling Down</answer>", 0),
    ],
)
def test_ball_rewards(completion, ans):
    assert one(ball.answer_reward, completion, letter="C", options=BALL_OPTS) == ans


def test_conversational_completions_and_totals():
    conv = [[{"role": "assistant", "content": "<think>x</think><answer>A</answer>"}]]
    assert sum(fn(conv, answer=["A"], options=[OPTS])[0] for fn in tasks.get("qa").rewards) == 2.0
    assert set(tasks.trainable()) == {"qa", "tag", "cls", "ball", "reasoning"}
    # every trainable task but the reasoning (SFT only: no reward, issue 20) has rewards for GRPO
    assert {n for n in tasks.trainable() if tasks.get(n).rewards} == {"qa", "tag", "cls", "ball"}


def test_metric_parsers_lenient_chain():
    assert qa.letter_lenient("<answer> b </answer>") == "B"
    assert qa.letter_lenient("I pick <C/>") == "C"
    assert qa.letter_lenient("<think>A or B?</think> so D") == "D"
    assert qa.letter_lenient("no letter here") == ""
    assert tag.interval_lenient("<glue>[00:05, 00:10]</glue>") == (5.0, 10.0)
    assert tag.interval_lenient("between [1.5, 3] seconds") == (1.5, 3.0)
    assert tag.interval_lenient("<glue>[1, 2, 3]</glue>") is None
    assert cls.class_lenient("<answer>it is object falling, maybe fire</answer>") == "Object_falling"
    assert cls.class_lenient("<answer>x</answer> Fire") is None  # only the <answer> is read when present
    assert tag.tiou((2, 4), (3, 5)) == pytest.approx(1 / 3)
