rule sft:
    input:
        base=sft_base,
        vau="results/vaubench/linked",
        ball="results/ball/linked",
        gate=GPU_GATE,
    output:
        directory("results/sft/{run}"),
    log:
        "logs/sft/{run}.log",
    benchmark:
        "benchmarks/sft/{run}.tsv"
    priority: 1  # all SFT before any GRPO: the stage finishes sooner (its jobs pair up on the cores)
    conda:
        "../../envs/train.yaml"
    container:
        config["containers"]["train"]
    threads: config["sft"]["threads"]
    resources:
        gpu=0,
        gpu_mem_gb=0,  # a profile's GPU memory: the memory plan refuses a job that cannot fit (common.smk)
    params:
        tasks=tasks_of,
        settings=sft_settings,
        budget=as_json(config["frames"]["budgets"]["train"]),
        accelerate=accelerate_config("sft"),
        port=lambda wc: job_port(wc, "sft"),
        checkpoints=lambda wc: f"checkpoints/sft/{wc.run}",
    shell:
        "OMP_NUM_THREADS={threads} vauflow launch --gpus {resources.gpu} --accelerate-config {params.accelerate:q} --port {params.port} -- "
        "sft --run {wildcards.run} --tasks {params.tasks} --base {input.base:q} --vau-data {input.vau:q} "
        "--ball-data {input.ball:q} --out {output:q} --checkpoints {params.checkpoints:q} "
        "--params {params.settings:q} --budget {params.budget:q} > {log:q} 2>&1"
