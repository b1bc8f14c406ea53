rule sft:
    input:
        init=sft_init,
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
        **training_params("sft"),
    shell:
        training_shell("sft")
