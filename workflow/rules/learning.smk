rule learning_check:
    input:
        sft=[
            f"results/sft/{run}"
            for run in sorted(set(GRPO_INIT_SFT.values()) - {None} | set(SFT_ALONE))
        ],
        bases=[model_dir(SFT_ALONE[run]["base"]) for run in sorted(SFT_ALONE)],
        grpo=expand("results/grpo/{run}", run=GRPO_RUNS),
        vau="results/vaubench/linked",
        ball="results/ball/linked",
    output:
        json="results/learning/summary.json",
        md=report("results/learning/summary.md", category="Learning check"),
    log:
        "logs/learning_check.log",
    benchmark:
        "benchmarks/learning_check.tsv"
    conda:
        "../../envs/train.yaml"
    container:
        config["containers"]["eval"]
    threads: 2
    resources:
        gpu=0,
        gpu_mem_gb=0,  # a profile's GPU memory: the memory plan refuses a job that cannot fit (common.smk)
    params:
        runs=as_json(
            {
                r: {
                    "tasks": run_tasks(config, r),
                    "sft": GRPO_INIT_SFT[r],
                    "think": grpo_params(config, r)["target"] != "answer",
                }
                for r in GRPO_RUNS
            }
        ),
        sft_alone=as_json(
            {
                r: {"tasks": s["tasks"], "base": model_folder(config, s["base"])}
                for r, s in SFT_ALONE.items()
            }
        ),
        budget=as_json(config["frames"]["budgets"]["train"]),
        seed=config["seed"],
        dtype=config["model"]["dtype"],
        # (no SFT folder when every GRPO run starts from its base: the folder is then not read)
        sft_root=lambda wc, input: str(Path(input.sft[0]).parent) if input.sft else "-",
        grpo_root=lambda wc, input: str(Path(input.grpo[0]).parent),
        out=lambda wc, output: str(Path(output.json).parent),
    shell:
        "vauflow learning --runs {params.runs:q} --sft {params.sft_root:q} --grpo {params.grpo_root:q} "
        "--sft-alone {params.sft_alone:q} --vau-data {input.vau:q} --ball-data {input.ball:q} "
        "--budget {params.budget:q} --seed {params.seed} --dtype {params.dtype} --out {params.out:q} > {log:q} 2>&1"
