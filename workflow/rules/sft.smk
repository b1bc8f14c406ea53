rule sft:
    input:
        base=model_dir(BASE_MODEL),
        data=sft_data,
    output:
        directory("results/sft/{task}"),
    log:
        "logs/sft/{task}.log",
    benchmark:
        "benchmarks/sft/{task}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        gpu=0,
    params:
        settings=sft_settings,
        budget=as_json(config["frames"]["budgets"]["train"]),
        accelerate=accelerate_config("sft"),
        port=lambda wc: job_port(wc, "sft"),
        checkpoints=lambda wc: f"checkpoints/sft/{wc.task}",
    shell:
        "vauflow launch --gpus {resources.gpu} --accelerate-config {params.accelerate:q} --port {params.port} -- "
        "sft --task {wildcards.task} --base {input.base:q} --data {input.data:q} --out {output:q} "
        "--checkpoints {params.checkpoints:q} --params {params.settings:q} --budget {params.budget:q} "
        "> {log:q} 2>&1"
