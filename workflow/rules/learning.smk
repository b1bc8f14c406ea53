# the held-out learning check: each trained model checked in a job of its own once it is trained (single-threaded
# parts fill the cores the SFT chain leaves idle), then one summary pairs each GRPO run with its SFT start
rule learning_check:
    input:
        unpack(learning_part_models),
        vau="results/vaubench/linked",
        ball="results/ball/linked",
    output:
        "results/learning/parts/{part}.json",
    log:
        "logs/learning_check/{part}.log",
    benchmark:
        "benchmarks/learning_check/{part}.tsv"
    conda:
        "../../envs/train.yaml"
    container:
        config["containers"]["eval"]
    threads: 1
    resources:
        gpu=0,
        gpu_mem_gb=0,  # a profile's GPU memory: the memory plan refuses a job that cannot fit (common.smk)
    params:
        runs=lambda wc: learning_part_args(wc)["runs"],
        sft_alone=lambda wc: learning_part_args(wc)["sft_alone"],
        budget=as_json(config["frames"]["budgets"]["train"]),
        seed=config["seed"],
        dtype=config["model"]["dtype"],
        sft_root=lambda wc, input: str(Path(input.sft).parent) if "sft" in input.keys() else "-",
        grpo_root=lambda wc, input: str(Path(input.grpo).parent) if "grpo" in input.keys() else "-",
    shell:
        "vauflow learning --part {wildcards.part} --runs {params.runs:q} --sft {params.sft_root:q} "
        "--grpo {params.grpo_root:q} --sft-alone {params.sft_alone:q} --vau-data {input.vau:q} "
        "--ball-data {input.ball:q} --budget {params.budget:q} --seed {params.seed} --dtype {params.dtype} "
        "--out {output:q} > {log:q} 2>&1"


rule learning_summary:
    input:
        expand("results/learning/parts/{part}.json", part=LEARNING_PARTS),
    output:
        json="results/learning/summary.json",
        md=report("results/learning/summary.md", category="Learning check"),
    log:
        "logs/learning_summary.log",
    benchmark:
        "benchmarks/learning_summary.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        runs=as_json(LEARNING_RUNS),
        sft_alone=as_json(LEARNING_ALONE),
        seed=config["seed"],
        out=lambda wc, output: str(Path(output.json).parent),
    shell:
        "vauflow learning-summary --runs {params.runs:q} --sft-alone {params.sft_alone:q} --seed {params.seed} "
        "--parts {input:q} --out {params.out:q} > {log:q} 2>&1"
