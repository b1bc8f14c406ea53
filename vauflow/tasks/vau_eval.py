"""VAU-Eval (spec §9): an LLM judge scores a model's description + analysis against the ground truth on five
dimensions (0-10 each, total 0-50). Offline, a deterministic reference-based proxy fills the same five columns;
it is labelled a proxy wherever it appears and is not comparable with the paper's judge scores."""

import re

from vauflow.llm import extract_json
from vauflow.parse import same_class
from vauflow.tasks.cls import class_lenient

SYSTEM = "You are an expert evaluator for video anomaly detection outputs."
DIMENSIONS = ("classification_score", "key_matching_score", "fluency_score", "informativeness_score", "factual_score")
PROMPT_LINES = [
    "Below is a ground-truth description and analysis, followed by a model-generated description and analysis. "
    "Please evaluate the model's outputs from the following aspects:",
    "",
    "1. Classification Correctness (10 pts)  ",
    "2. Key Object and Action Matching (10 pts)  ",
    "3. Fluency and Coherence (10 pts)  ",
    "4. Informativeness and Domain Awareness (10 pts)  ",
    "5. Factual Consistency (10 pts)",
    "",
    "---",
    "Ground Truth:",
    "- Description: {gt_description}",
    "- Analysis: {gt_analysis}",
    "",
    "Model Output:",
    "- Description: {description}",
    "- Analysis: {analysis}",
    "",
    "Please return a JSON object strictly formatted as:",
    "",
    "{{",
    '    "classification_score": int (0-10),',
    '    "key_matching_score": int (0-10),',
    '    "fluency_score": int (0-10),',
    '    "informativeness_score": int (0-10),',
    '    "factual_score": int (0-10),',
    '    "total_score": int (0-50),',
    '    "comments": {{',
    '        "classification": "...",',
    '        "key_matching": "...",',
    '        "fluency": "...",',
    '        "informativeness": "...",',
    '        "factual": "..."',
    "    }}",
    "}}",
]
# the upstream f-string: a leading newline, every line indented by 8 spaces, closing quotes on their own line
PROMPT = "\n" + "\n".join(("        " + line) if line else "" for line in PROMPT_LINES) + "\n        "


def judge_messages(gt_description, gt_analysis, description, analysis):
    user = PROMPT.format(
        gt_description=gt_description, gt_analysis=gt_analysis, description=description, analysis=analysis
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def verdict(text):
    """The judge's scores from its reply, or None when the reply holds no valid verdict."""
    obj = extract_json(text)
    if obj is None:
        return None
    try:  # numbers as the judge wrote them (7.5 stays 7.5), as upstream sums them
        scores = {d: float(obj[d]) for d in DIMENSIONS + ("total_score",)}
    except (KeyError, TypeError, ValueError):
        return None
    if not all(0 <= scores[d] <= 10 for d in DIMENSIONS) or not 0 <= scores["total_score"] <= 50:
        return None
    return scores


def judge(client, gt_description, gt_analysis, description, analysis, attempts=2):
    """Scores from the LLM judge; a reply without a valid verdict is asked again (a different cache entry),
    then given up as None (counted by the caller, never silently dropped)."""
    messages = judge_messages(gt_description, gt_analysis, description, analysis)
    for attempt in range(attempts):
        params = {} if attempt == 0 else {"temperature": 0.0, "seed": attempt}
        reply = client.reply(messages, **params)
        scores = verdict(reply["content"])
        if scores is not None:
            return scores | {"judge_model": reply.get("model"), "system_fingerprint": reply.get("system_fingerprint")}
    return None


# -- the offline proxy ----------------------------------------------------------------------------------------
STOP = set(
    "a an the of in on at to and or is are was were be been it its this that with from by as for while "
    "there their they he she his her video scene frame".split()
)


def content_words(text):
    return [w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOP and len(w) > 2]


def proxy_scores(gt_description, gt_analysis, description, analysis, gt_class=None):
    """Deterministic reference-based stand-ins for the five dimensions (0-10): class named as in the GT; recall
    of the GT's content words; 1 - share of repeated word trigrams (scaled down below 20 words); output length
    relative to the GT's; precision of the output's content words against the GT. Labelled "proxy" wherever
    reported."""
    gt_words, out_text = content_words(f"{gt_description} {gt_analysis}"), f"{description} {analysis}"
    out_words = content_words(out_text)
    gt_set, out_set = set(gt_words), set(out_words)
    predicted = class_lenient(out_text)
    if gt_class is None:
        gt_class = class_lenient(f"{gt_description} {gt_analysis}")
    classification = 10.0 * same_class(predicted, gt_class) if gt_class else 0.0
    key = 10.0 * len(gt_set & out_set) / len(gt_set) if gt_set else 0.0
    tokens = re.findall(r"[a-z]+", out_text.lower())
    trigrams = list(zip(tokens, tokens[1:], tokens[2:]))
    # unrepeated trigrams, scaled down for fragments (a two-word reply is not fluent reasoning)
    fluency = (
        10.0 * (len(set(trigrams)) / len(trigrams) if trigrams else 1.0) * min(1.0, len(tokens) / 20) if tokens else 0.0
    )
    informativeness = 10.0 * min(1.0, len(out_words) / len(gt_words)) if gt_words else 0.0
    factual = 10.0 * len(out_set & gt_set) / len(out_set) if out_set else 0.0
    scores = dict(zip(DIMENSIONS, (round(x, 4) for x in (classification, key, fluency, informativeness, factual))))
    scores["total_score"] = round(sum(scores.values()), 4)
    return scores


# -- scoring a model's reasoning outputs -----------------------------------------------------------------------
COLUMNS = {
    "classification_score": "CLS",
    "key_matching_score": "KM",
    "fluency_score": "FLU",
    "informativeness_score": "INF",
    "factual_score": "FAC",
    "total_score": "Total",
}


def gt_fields(row):
    """(Description, Reasoning) exactly as the GT CSV holds them: upstream's judge reads the raw cells."""
    return row["gt_description"], row["gt_analysis"]


def score_reasoning(gt_rows, predictions, scorer):
    """VAU-Eval of one prediction file. `scorer(gt_row, gt_description, gt_analysis, description, analysis)` ->
    scores or None. Rows with an empty GT or model field are skipped (as upstream; "-1" strings are not); a row
    without a prediction, or without a verdict from the judge, counts as failed; both are counted, never dropped
    silently. Means are over judged rows."""
    preds = {p["video"]: p for p in predictions}
    rows, skipped, failed = [], [], []
    for g in gt_rows:
        p = preds.get(g["video_name"])
        if p is None:
            failed.append(g["video_name"])
            continue
        fields = (*gt_fields(g), p.get("description") or "", p.get("analysis") or "")
        if not all(fields):
            skipped.append(g["video_name"])
            continue
        scores = scorer(g, *fields)
        if scores is None:
            failed.append(g["video_name"])
            continue
        rows.append({"video": g["video_name"]} | scores)
    means = {COLUMNS[d]: (sum(r[d] for r in rows) / len(rows) if rows else None) for d in COLUMNS}
    return {"n": len(rows), "skipped": skipped, "failed": failed, "means": means, "rows": rows}


def proxy_scorer(gt_row, gt_description, gt_analysis_text, description, analysis):
    return proxy_scores(gt_description, gt_analysis_text, description, analysis, gt_class=gt_row.get("class"))


def llm_scorer(client):
    def scorer(gt_row, gt_description, gt_analysis_text, description, analysis):
        return judge(client, gt_description, gt_analysis_text, description, analysis)

    return scorer


def vau_eval(pred_files, linked, scorer_name, llm=None, cache=None):
    """VAU-Eval of one model's reasoning predictions, `pred_files` {split: prediction file}: {"scorer", "label",
    "splits": {split: result}}. scorer_name: proxy or llm (then `llm` is the config's llm section)."""
    from pathlib import Path

    from vauflow.io import read_jsonl
    from vauflow.llm import client_from_config

    if scorer_name == "llm":
        scorer, name = llm_scorer(client_from_config(llm, cache)), f"LLM judge {llm['model']}"
    else:
        scorer, name = proxy_scorer, "proxy (offline, reference-based; not comparable with the paper's judge)"
    out = {"scorer": scorer_name, "label": name, "splits": {}}
    for split, pred_file in pred_files.items():
        gt = read_jsonl(Path(linked) / split / "reasoning.jsonl")
        preds = read_jsonl(pred_file)
        out["splits"][split] = score_reasoning(gt, preds, scorer)
    answered = [r for split in out["splits"].values() for r in split["rows"]]
    out["judge"] = {
        "models": sorted({str(r.get("judge_model")) for r in answered if "judge_model" in r}),
        "system_fingerprints": sorted({str(r.get("system_fingerprint")) for r in answered if "judge_model" in r}),
    }
    return out
