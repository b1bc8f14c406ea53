"""The offline VAU-Eval proxy measures something: controls on the real test splits' GT texts (../shared/vau-bench).
A GT scored against itself gets >= 40/50; with its class swapped it loses the classification points; with its words
shuffled it loses fluency; random tokens of the tokenizer the tiny models are built with get <= 5/50; another clip's
GT of another class <= half of the GT's own total. Empty answers are skipped (as upstream) and counted, and the Total
with them as 0 keeps a model that answers nothing below one that answers."""

import random
import re
import statistics

import pytest

from vauflow.annotation import CLASSES
from vauflow.io import read_jsonl
from vauflow.tasks import vau_eval

TEST_SPLITS = ("test_msad", "test_ecva", "test_ucf_crime")


@pytest.fixture(scope="module")
def controls(real_built):
    """{control: [proxy scores per GT row]} over every test row with a class and GT texts."""
    reference = vau_eval.reference_of(real_built)
    score = vau_eval.proxy_scorer(reference)
    rows = [r for s in TEST_SPLITS for r in read_jsonl(real_built / s / "reasoning.jsonl")]
    rows = [r for r in rows if r.get("class") and r["gt_description"].strip() not in ("", "-1")]
    from vauflow.bases.tokenizer import train_tokenizer

    texts = [r["gt_description"] + " " + r["gt_analysis"] for r in read_jsonl(real_built / "val/reasoning.jsonl")]
    tokenizer = train_tokenizer(texts, 512)
    rng = random.Random(0)
    out = {k: [] for k in ("self", "swapped", "shuffled", "random", "other")}
    for r in rows:
        d, a = r["gt_description"], r["gt_analysis"]
        out["self"].append(score(r, d, a, d, a))
        kind = (r.get("reasoning") or {}).get("Specific Anomaly Type")
        if r["class"] != "Normal" and kind:  # every mention of its type and class, another class instead
            other = rng.choice([c for c in CLASSES if c not in (r["class"], "Normal")])
            mentions = {kind, r["class"], r["class"].replace("_", " ")}
            swap = re.compile("|".join(map(re.escape, mentions)), re.I)
            out["swapped"].append(score(r, d, a, swap.sub(other, d), swap.sub(other, a)))
        out["shuffled"].append(score(r, d, a, *(" ".join(rng.sample(t.split(), len(t.split()))) for t in (d, a))))
        noise = [tokenizer.decode([rng.randrange(len(tokenizer)) for _ in range(n)]) for n in (80, 120)]
        out["random"].append(score(r, d, a, *noise))
        o = rng.choice([x for x in rows if x["class"] != r["class"]])
        out["other"].append(score(r, d, a, o["gt_description"], o["gt_analysis"]))
    return out


def mean(scores, dim="total_score"):
    return statistics.mean(s[dim] for s in scores)


def test_the_proxy_rewards_the_ground_truth_and_not_noise(controls):
    means = {k: {d: round(mean(v, d), 2) for d in (*vau_eval.DIMENSIONS, "total_score")} for k, v in controls.items()}
    print("\n" + "\n".join(f"{k}: {v}" for k, v in means.items()))
    assert len(controls["self"]) > 900 and len(controls["swapped"]) > 600
    assert means["self"]["total_score"] >= 40
    assert means["swapped"]["classification_score"] <= means["self"]["classification_score"] / 3
    assert means["shuffled"]["fluency_score"] <= means["self"]["fluency_score"] / 4
    assert means["random"]["total_score"] <= 5
    assert means["other"]["total_score"] <= means["self"]["total_score"] / 2
    # the words alone (key matching, informativeness, factual) do not tell a shuffled GT from the GT: fluency does
    for dim in ("key_matching_score", "informativeness_score", "factual_score"):
        assert means["shuffled"][dim] == means["self"][dim]


def test_the_old_proxy_rewarded_noise(controls, real_built):
    """Control: the proxy before this calibration (fluency from unrepeated trigrams, informativeness from length)
    gave the tokenizer's random tokens more than the criterion allows."""

    def old(description, analysis, gt):
        tokens = re.findall(r"[a-z]+", f"{description} {analysis}".lower())
        trigrams = list(zip(tokens, tokens[1:], tokens[2:]))
        fluency = 10 * (len(set(trigrams)) / len(trigrams) if trigrams else 1) * min(1, len(tokens) / 20)
        out, ref = vau_eval.content_words(f"{description} {analysis}"), vau_eval.content_words(gt)
        return fluency + 10 * min(1, len(out) / max(1, len(ref)))

    rows = [r for s in TEST_SPLITS for r in read_jsonl(real_built / s / "reasoning.jsonl")][:100]
    rng = random.Random(0)
    words = sorted({w for r in rows for w in vau_eval.words(r["gt_description"])})
    noise = [" ".join(rng.choice(words) for _ in range(120)) for _ in rows]
    assert statistics.mean(old(n, "", r["gt_description"]) for n, r in zip(noise, rows)) > 5


def test_empty_answers_are_skipped_and_cannot_rank_a_model_up(real_built):
    reference = vau_eval.reference_of(real_built)
    gt = [r for r in read_jsonl(real_built / "test_msad/reasoning.jsonl") if r["gt_description"].strip()][:20]
    answers_all = [
        {"video": g["video_name"], "description": g["gt_description"][:80], "analysis": "It is normal."} for g in gt
    ]
    answers_one = [
        {
            "video": g["video_name"],
            "description": g["gt_description"] if i == 0 else "",
            "analysis": g["gt_analysis"] if i == 0 else "",
        }
        for i, g in enumerate(gt)
    ]
    scorer = vau_eval.proxy_scorer(reference)
    every, one = vau_eval.score_reasoning(gt, answers_all, scorer), vau_eval.score_reasoning(gt, answers_one, scorer)
    assert one["n"] == 1 and len(one["skipped"]) == 19 and every["skipped"] == []
    assert one["means"]["Total"] > every["means"]["Total"]  # upstream's mean over the judged rows alone
    assert one["total_with_skipped"] < every["total_with_skipped"]
    nothing = vau_eval.score_reasoning(gt, [a | {"description": "", "analysis": ""} for a in answers_all], scorer)
    assert nothing["n"] == 0 and nothing["total_with_skipped"] == 0


def test_the_reasoning_learning_check_scores_against_a_blind_majority(real_built):
    """The learning check's reasoning numbers (vauflow.tasks.reasoning.learning_scores) on the real test GT: the GT
    itself names its class far more often than an analysis naming the training majority class does; empty
    answers score 0; the baseline is what that constant analysis earns."""
    from vauflow.tasks import reasoning
    from vauflow.tasks.vau_eval import proxy_scorer, reference_of

    train = read_jsonl(real_built / "val" / "reasoning.jsonl")  # (the public files have no train split)
    test = read_jsonl(real_built / "test_ucf_crime" / "reasoning.jsonl")
    scorer = proxy_scorer(reference_of(real_built))
    gt = [{"description": r["gt_description"], "analysis": r["gt_analysis"]} for r in test]
    own = reasoning.learning_scores(test, gt, train, scorer)
    empty = reasoning.learning_scores(test, [{"description": "", "analysis": ""}] * len(test), train, scorer)
    assert own["majority"] == empty["majority"] and 0 < own["baseline"] == empty["baseline"] < 0.5
    assert sum(own["named"]) / len(test) > own["baseline"] + 0.3
    assert sum(own["total"]) / len(test) >= 30 and sum(empty["total"]) == sum(empty["named"]) == 0
