rule grpo:
    input:
        init=grpo_init,
        vau="results/vaubench/linked",
        ball="results/ball/linked",
        gate=GPU_GATE,
    output:
        directory("results/grpo/{run}"),
    log:
        "logs/grpo/{run}.log",
    benchmark:
        "benchmarks/grpo/{run}.tsv"
    priority: 1  # training before evaluation: evaluation jobs then pair up on the cores at the end
    conda:
        "../../envs/train.yaml"
    container:
        config["containers"]["train"]
    threads: config["grpo"]["threads"]
    resources:
        gpu=0,
        gpu_mem_gb=0,  # a profile's GPU memory: the memory plan refuses a job that cannot fit (common.smk)
    params:
        tasks=tasks_of,
        settings=grpo_settings,
        budget=as_json(config["frames"]["budgets"]["train"]),
        accelerate=accelerate_config("grpo"),
        port=lambda wc: job_port(wc, "grpo"),
        checkpoints=lambda wc: f"checkpoints/grpo/{wc.run}",
    shell:
        "OMP_NUM_THREADS={threads} vauflow launch --gpus {resources.gpu} --accelerate-config {params.accelerate:q} --port {params.port} -- "
        "grpo --run {wildcards.run} --tasks {params.tasks} --init {input.init:q} --vau-data {input.vau:q} "
        "--ball-data {input.ball:q} --out {output:q} --checkpoints {params.checkpoints:q} "
        "--params {params.settings:q} --budget {params.budget:q} > {log:q} 2>&1"
