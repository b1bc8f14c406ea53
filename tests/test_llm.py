"""The one LLM client against a real OpenAI-compatible fault server on 127.0.0.1, and the VAU-Eval judge/proxy."""

import json
import logging
import time

import pytest

from vauflow.llm import ChatClient, LLMError, extract_json
from vauflow.tasks import vau_eval as J

from conftest import FaultServer

KEY = "sk-test-not-a-real-key-7f3a"


@pytest.fixture
def server():
    s = FaultServer()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("VAUFLOW_LLM_API_KEY", KEY)


def client(server, **kw):
    return ChatClient(server.url, "judge-model", **({"timeout": 0.5, "retries": 6, "backoff": 0.01} | kw))


def test_survives_429_500_timeout_and_malformed_reply(server):
    server.script = [("429", 0.3), ("500",), ("sleep", 1.5), ("garbage",), ("ok", "fine")]
    t0 = time.monotonic()
    assert client(server).chat([{"role": "user", "content": "hi"}]) == "fine"
    assert len(server.seen) == 5
    assert time.monotonic() - t0 >= 0.3 + 0.5  # waited as Retry-After said, and for the timeout
    assert all(s["auth"] == f"Bearer {KEY}" for s in server.seen)


def test_retries_are_bounded_and_4xx_is_not_retried(server):
    server.script = [("500",)] * 10
    c = client(server, retries=3)
    with pytest.raises(LLMError, match="gave up after 4 attempts"):  # the first try and 3 retries
        c.chat([{"role": "user", "content": "x"}])
    assert c.requests == 4
    server.script = [("401",)]
    c = client(server)
    with pytest.raises(LLMError, match="HTTP 401"):
        c.chat([{"role": "user", "content": "y"}])
    assert c.requests == 1


def test_outage_mid_run_then_resume_from_the_cache(server, tmp_path):
    cache = tmp_path / "verdicts.jsonl"
    items = [f"item {i}" for i in range(6)]
    server.script = [("ok", None), ("ok", None)] + [("503",)] * 20  # down after two answers
    c = client(server, retries=3, cache=cache)
    done = []
    with pytest.raises(LLMError):
        for it in items:
            done.append(c.chat([{"role": "user", "content": it}]))
    assert len(done) == 2
    server.script = []  # back up
    before = len(server.seen)
    c2 = client(server, retries=3, cache=cache)
    answers = [c2.chat([{"role": "user", "content": it}]) for it in items]
    assert answers[:2] == done and answers[2] == "echo: item 2"
    assert len(server.seen) - before == 4  # the two cached answers were not asked again


def test_rate_limit_spaces_requests(server):
    c = client(server, min_interval=0.2)
    t0 = time.monotonic()
    for i in range(3):
        c.chat([{"role": "user", "content": str(i)}])
    assert time.monotonic() - t0 >= 0.4


def test_the_key_never_leaks(server, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    server.script = [("500",), ("401",)]
    c = client(server, cache=tmp_path / "c.jsonl")
    with pytest.raises(LLMError) as e:
        c.chat([{"role": "user", "content": "x"}])
    assert KEY not in str(e.value) and KEY not in caplog.text
    c.chat([{"role": "user", "content": "y"}])
    assert KEY not in (tmp_path / "c.jsonl").read_text()
    monkeypatch.delenv("VAUFLOW_LLM_API_KEY")
    with pytest.raises(LLMError, match="VAUFLOW_LLM_API_KEY"):
        client(server).chat([{"role": "user", "content": "z"}])


def test_extract_json():
    assert extract_json('noise ```json\n{"a": 1}\n``` tail') == {"a": 1}
    assert extract_json('Here: {"a": {"b": 2}} and {"c": 3}') == {"a": {"b": 2}}
    assert extract_json('{broken {"ok": true}') == {"ok": True}
    assert extract_json("no json") is None


VERDICT = {
    "classification_score": 8,
    "key_matching_score": 7,
    "fluency_score": 9,
    "informativeness_score": 6,
    "factual_score": 7,
    "total_score": 37,
    "comments": {"classification": "ok"},
}


def test_judge_prompt_parse_and_retry(server):
    msgs = J.judge_messages("gt desc", "gt analysis", "desc", "analysis")
    assert msgs[0] == {"role": "system", "content": J.SYSTEM}
    user = msgs[1]["content"]
    assert user.startswith("\n        Below is a ground-truth description") and "- Analysis: gt analysis" in user
    assert "        1. Classification Correctness (10 pts)  \n" in user and '"total_score": int (0-50),' in user
    assert J.verdict("```json\n" + json.dumps(VERDICT) + "\n```")["total_score"] == 37
    assert J.verdict(json.dumps(VERDICT | {"fluency_score": 11})) is None
    server.script = [("ok", "I think it is fine."), ("ok", "```json\n" + json.dumps(VERDICT) + "\n```")]
    assert J.judge(client(server), "a", "b", "c", "d")["key_matching_score"] == 7
    server.script = [("ok", "nope"), ("ok", "still nope")]
    assert J.judge(client(server), "a", "b", "c2", "d") is None


REFERENCE_TEXTS = [
    "Two people fight in the street while others watch.",
    "A man walks his dog in the park and nothing unusual happens.",
    "A car crashes into a pole at the crossing and the driver gets out.",
    "People fight near the shop; the fight is an anomaly.",
]


def test_proxy_is_deterministic_and_reference_based():
    reference = J.ProxyReference.of(REFERENCE_TEXTS)
    gt_d, gt_a = "Two people fight in the street.", "The video shows fighting, an anomaly."
    same = J.proxy_scores(reference, gt_d, gt_a, gt_d, gt_a, gt_class="Fighting")
    assert same == J.proxy_scores(reference, gt_d, gt_a, gt_d, gt_a, gt_class="Fighting")
    assert same["classification_score"] == same["key_matching_score"] == same["factual_score"] == 10.0
    wrong = J.proxy_scores(
        reference,
        gt_d,
        gt_a,
        "A car crash.",
        "Traffic accident, traffic accident, traffic accident.",
        gt_class="Fighting",
    )
    assert wrong["classification_score"] == 0.0 and wrong["total_score"] < same["total_score"]
    empty = J.proxy_scores(reference, gt_d, gt_a, "", "", gt_class="Fighting")
    assert empty["total_score"] == 0.0


def reasoning_case(tmp_path):
    """A built test split with three reasoning rows and a model's predictions for them."""
    from vauflow.io import write_jsonl

    sections = {"Specific Anomaly Type": "Fighting", "Conclusion": "Two people fight: an anomaly."}
    raw = "{'Specific Anomaly Type': 'Fighting', 'Conclusion': 'Two people fight: an anomaly.'}"  # the CSV cell
    gt = [
        {
            "video_name": "a.mp4",
            "description": "Two people fight in a street.",
            "reasoning": sections,
            "reasoning_format": "dict",
            "class": "Fighting",
            "gt_description": "Two people fight in a street. ",
            "gt_analysis": raw,
        },
        {
            "video_name": "b.mp4",
            "description": "",
            "reasoning": sections,
            "reasoning_format": "markdown",
            "class": "Fighting",
            "gt_description": "",
            "gt_analysis": raw,
        },  # empty GT description: skipped
        {
            "video_name": "c.mp4",
            "description": "-1",
            "reasoning": sections,
            "reasoning_format": "markdown",
            "class": "Normal",
            "gt_description": "-1",
            "gt_analysis": "-1",
        },
    ]  # "-1" is text, judged
    write_jsonl(tmp_path / "linked" / "test_x" / "reasoning.jsonl", gt)
    preds = [
        {"video": v, "description": "People fight.", "analysis": "A fight, an anomaly."}
        for v in ("c.mp4", "b.mp4", "a.mp4")
    ]
    write_jsonl(tmp_path / "eval" / "predictions" / "reasoning_test_x_nothink.jsonl", preds)
    return gt


def test_vau_eval_with_the_llm_judge_through_the_cli(server, tmp_path):
    """`vauflow eval judge` with the LLM scorer: the paper's prompt per row, verdicts averaged, empty rows skipped
    and a row without a verdict counted as failed; the key comes from the environment and appears nowhere."""
    from conftest import vauflow

    raw = reasoning_case(tmp_path)[0]["gt_analysis"]
    server.script = [
        ("ok", "```json\n" + json.dumps(VERDICT | {"key_matching_score": 7.5, "total_score": 37.5}) + "\n```"),
        ("ok", "no verdict"),
        ("ok", "nor here"),
    ]
    llm = {
        "base_url": server.url,
        "model": "judge-model",
        "api_key_env": "VAUFLOW_LLM_API_KEY",
        "requests_per_s": 100.0,
        "timeout_s": 5,
        "retries": 1,
    }
    args = [
        "eval",
        "judge",
        "--eval",
        tmp_path / "eval",
        "--vau-data",
        tmp_path / "linked",
        "--splits",
        '["test_x"]',
        "--scorer",
        "llm",
        "--llm",
        json.dumps(llm),
        "--cache",
        tmp_path / "cache.jsonl",
        "--out",
        tmp_path / "out.json",
    ]
    p = vauflow(*args)
    result = json.loads((tmp_path / "out.json").read_text())
    out = result["splits"]["test_x"]
    assert out["n"] == 1 and out["skipped"] == ["b.mp4"] and out["failed"] == ["c.mp4"]
    assert out["means"]["Total"] == 37.5 and out["means"]["KM"] == 7.5  # numbers as the judge wrote them
    # which model answered (an alias such as deepseek-chat does not say)
    assert result["judge"] == {"models": ["judge-model-v9"], "system_fingerprints": ["fp_test"]}
    asked = [s["body"]["messages"][1]["content"] for s in server.seen]
    # the GT cells byte for byte (trailing space included), the "-1" row judged
    assert len(asked) == 3 and "- Description: Two people fight in a street. \n" in asked[0]
    assert f"- Analysis: {raw}\n" in asked[0] and "- Description: -1" in asked[1]
    assert all(s["auth"] == f"Bearer {KEY}" for s in server.seen)
    for text in (p.stdout, p.stderr, (tmp_path / "out.json").read_text(), (tmp_path / "cache.jsonl").read_text()):
        assert KEY not in text
    # the same run again is answered from the cache: no new request
    vauflow(*args)
    assert len(server.seen) == 3


def test_vau_eval_errors_are_one_line(server, tmp_path, monkeypatch):
    from conftest import vauflow

    reasoning_case(tmp_path)
    llm = {
        "base_url": server.url,
        "model": "m",
        "api_key_env": "NO_SUCH_KEY_VAR",
        "requests_per_s": 100.0,
        "timeout_s": 5,
        "retries": 0,
    }
    args = [
        "eval",
        "judge",
        "--eval",
        tmp_path / "eval",
        "--vau-data",
        tmp_path / "linked",
        "--splits",
        '["test_x"]',
        "--llm",
        json.dumps(llm),
        "--out",
        tmp_path / "out.json",
    ]
    p = vauflow(*args, "--scorer", "llm", check=False)
    assert p.returncode == 2 and "NO_SUCH_KEY_VAR" in p.stderr and p.stderr.strip().count("\n") == 0
    # a missing prediction is a counted failure, never an error that stops the judging or the tables
    (tmp_path / "eval" / "predictions" / "reasoning_test_x_nothink.jsonl").write_text(
        json.dumps({"video": "c.mp4", "description": "People fight.", "analysis": "A fight."}) + "\n"
    )
    vauflow(*args, "--scorer", "proxy")
    out = json.loads((tmp_path / "out.json").read_text())["splits"]["test_x"]
    assert out["n"] == 1 and sorted(out["failed"]) == ["a.mp4", "b.mp4"] and out["skipped"] == []


def test_vau_eval_proxy_ranks_a_faithful_output_above_a_wrong_one(tmp_path):
    gt = reasoning_case(tmp_path)
    faithful = [
        {"video": g["video_name"], "description": g["description"] or "x", "analysis": g["gt_analysis"]} for g in gt
    ]
    wrong = [{"video": g["video_name"], "description": "A car drives by.", "analysis": "Normal traffic."} for g in gt]
    scorer = J.proxy_scorer(J.ProxyReference.of(REFERENCE_TEXTS + [g["gt_analysis"] for g in gt]))
    good = J.score_reasoning(gt, faithful, scorer)
    bad = J.score_reasoning(gt, wrong, scorer)
    assert good["n"] == bad["n"] == 2 and good["skipped"] == ["b.mp4"]
    row = {r["video"]: r["total_score"] for r in good["rows"]}, {r["video"]: r["total_score"] for r in bad["rows"]}
    assert row[0]["a.mp4"] > row[1]["a.mp4"] + 15 and good["means"]["Total"] > bad["means"]["Total"]
    assert good == J.score_reasoning(gt, faithful, scorer)


def test_ball_rationales_written_by_the_llm_through_the_cli(server, tmp_path):
    """synthetic.ball.cot_source llm: the LLM writes each rationale from the clip's facts and the true answer;
    our answer tag follows it; a reply naming another direction is asked again, then replaced by the template,
    and the manifest counts both; the same run again is served from the cache and gives the same files."""
    from vauflow.io import read_jsonl
    from vauflow.plan import load_config
    from vauflow.synth import ball

    from conftest import REPO, vauflow

    params = load_config(REPO / "config.yaml")["synthetic"]["ball"] | {"n_train": 4, "n_val": 0}
    ball.generate(params, 3, tmp_path / "t/v", tmp_path / "t/ann")  # the template run: same clips, same labels
    labels = [r["label"] for r in read_jsonl(tmp_path / "t/ann/train/ball.jsonl")]
    wrong = "The ball is falling." if labels[1] != "falling" else "The ball ascends."
    good = "The x coordinate stays put while y changes between the first and the last frame."
    server.script = [("ok", good), ("ok", wrong), ("ok", wrong), ("ok", good), ("ok", good)]
    llm = {
        "base_url": server.url,
        "model": "writer",
        "api_key_env": "VAUFLOW_LLM_API_KEY",
        "requests_per_s": 100.0,
        "timeout_s": 5,
        "retries": 0,
    }

    def generate(out):
        return vauflow(
            "synth",
            "ball",
            "--params",
            json.dumps(params | {"cot_source": "llm"}),
            "--seed",
            3,
            "--llm",
            json.dumps(llm),
            "--llm-cache",
            tmp_path / "cache.jsonl",
            "--videos",
            out / "v",
            "--annotations",
            out / "ann",
        )

    p = generate(tmp_path / "a")
    rows, template = read_jsonl(tmp_path / "a/ann/train/ball.jsonl"), read_jsonl(tmp_path / "t/ann/train/ball.jsonl")
    assert [r["label"] for r in rows] == labels
    asked = [s["body"]["messages"][1]["content"] for s in server.seen]
    assert len(asked) == 5 and f'The correct answer is "{rows[0]["answer_text"]}"' in asked[0]
    assert f"x={rows[0]['params']['start'][0]:.0f}" in asked[0]
    assert rows[0]["cot"] == f"<think>{good}</think><answer>{rows[0]['answer_text']}</answer>"
    assert rows[1]["cot"] == template[1]["cot"]  # rejected twice: the template's rationale, counted
    manifest = json.loads((tmp_path / "a/ann/manifest.json").read_text())
    assert manifest["cot_sources"] == {"llm": 3, "template (LLM reply rejected: names another direction)": 1}
    assert KEY not in p.stdout + p.stderr + (tmp_path / "cache.jsonl").read_text()
    generate(tmp_path / "b")
    assert len(server.seen) == 5  # all from the cache
    assert (tmp_path / "a/ann/train/ball.jsonl").read_bytes() == (tmp_path / "b/ann/train/ball.jsonl").read_bytes()
