rule extract_frames:
    input:
        videos=videos_dir,
    output:
        directory("results/frames/{dataset}/shard-{shard}"),
    log:
        "logs/frames/{dataset}/shard-{shard}.log",
    benchmark:
        "benchmarks/extract_frames/{dataset}/shard-{shard}.tsv"
    conda:
        "../../envs/data.yaml"
    container:
        config["containers"]["data"]
    threads: 1
    params:
        shards=config["frames"]["shards"],
        budgets=as_json(config["frames"]["budgets"]),
        codec=config["frames"]["codec"],
        quality=config["frames"]["jpeg_quality"],
    shell:
        "vauflow frames extract --videos {input.videos:q} --out {output:q} --dataset {wildcards.dataset} "
        "--shard {wildcards.shard}/{params.shards} --budgets {params.budgets:q} --threads {threads} "
        "--codec {params.codec} --jpeg-quality {params.quality} > {log:q} 2>&1"
