# the held-out learning check: each run in its own job once it is trained (single-threaded parts fill the cores
# that the SFT chain leaves idle), then one summary
rule learning_check:
    input:
        unpack(learning_part_models),
        vau="results/vaubench/linked",
        ball="results/ball/linked",
    output:
        json="results/learning/parts/{part}/summary.json",
        md="results/learning/parts/{part}/summary.md",
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
        runs=lambda wc: learning_part_params(wc)["runs"],
        sft_alone=lambda wc: learning_part_params(wc)["sft_alone"],
        budget=as_json(config["frames"]["budgets"]["train"]),
        seed=config["seed"],
        dtype=config["model"]["dtype"],
        # (a GRPO run that starts from its base has no SFT folder: the folder is then not read)
        sft_root=lambda wc, input: str(Path(input.sft).parent) if "sft" in input.keys() else "-",
        grpo_root=lambda wc, input: str(Path(input.grpo).parent) if "grpo" in input.keys() else "-",
        out=lambda wc, output: str(Path(output.json).parent),
    shell:
        "vauflow learning --runs {params.runs:q} --sft {params.sft_root:q} --grpo {params.grpo_root:q} "
        "--sft-alone {params.sft_alone:q} --vau-data {input.vau:q} --ball-data {input.ball:q} "
        "--budget {params.budget:q} --seed {params.seed} --dtype {params.dtype} --out {params.out:q} > {log:q} 2>&1"


rule learning_summary:
    input:
        expand("results/learning/parts/{part}/summary.json", part=LEARNING_PARTS),
    output:
        json="results/learning/summary.json",
        md=report("results/learning/summary.md", category="Learning check"),
    log:
        "logs/learning_summary.log",
    benchmark:
        "benchmarks/learning_summary.tsv"
    conda:
        "../../envs/report.yaml"
    container:
        config["containers"]["data"]
    params:
        out=lambda wc, output: str(Path(output.json).parent),
    shell:
        "vauflow learning-summary --parts {input:q} --out {params.out:q} > {log:q} 2>&1"
