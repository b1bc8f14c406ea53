# vauflow: VAU-R1 from raw videos to paper tables.
# download -> frames (decode once, cache) -> vaubench (merge, link) -> sft -> grpo[task] -> eval[model]
# -> vau_eval[model] -> tables -> plots (snakemake --report)


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


# on a cluster these run where Snakemake runs: network access (downloads, model fetch, the LLM judge) or cheap
# collection steps
localrules:
    all,
    data,
    frames,
    vaubench,
    ball,
    model,
    sft_all,
    grpo_all,
    download,
    fetch_model,
    vau_eval,
    tables,
    plots,
    learning_summary,


include: "workflow/rules/common.smk"
include: "workflow/rules/synthetic.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/frames.smk"
include: "workflow/rules/vaubench.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/sft.smk"
include: "workflow/rules/grpo.smk"
include: "workflow/rules/learning.smk"
include: "workflow/rules/eval.smk"
include: "workflow/rules/cluster.smk"


rule all:
    default_target: True
    input:
        "results/vaubench/linked",
        "results/ball/linked",
        expand("results/sft/{run}", run=SFT_RUNS),
        expand("results/grpo/{run}", run=GRPO_RUNS),
        ["results/learning/summary.json"] if config["learning_check"] else [],
        "results/tables/tables.md",
        "results/report/training",
        "results/report/eval",
        ["results/canary/gpu.json"] if config["gpu_canary"] else [],


# Named partial targets, one stage each.
rule data:
    input:
        [f"resources/videos/{d}" for d in DATASETS if DATASETS[d]["origin"] != "local"],
        annotations_dir(),
        "resources/annotations/ball",


rule frames:
    input:
        frame_shards(DATASETS),


rule vaubench:
    input:
        "results/vaubench/linked",


rule ball:
    input:
        "results/ball/linked",


rule model:
    input:
        [model_dir(m) for m in [config["model"]["base"], *config["model"]["other_bases"]]],


rule sft_all:
    input:
        expand("results/sft/{run}", run=SFT_RUNS),


rule grpo_all:
    input:
        expand("results/grpo/{run}", run=GRPO_RUNS),
