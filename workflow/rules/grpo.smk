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
        **training_params("grpo"),
    shell:
        training_shell("grpo")
