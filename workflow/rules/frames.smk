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
    threads: 1
    params:
        shards=config["frames"]["shards"],
        budgets=as_json(config["frames"]["budgets"]),
    shell:
        "vauflow frames extract --videos {input.videos:q} --out {output:q} --dataset {wildcards.dataset} "
        "--shard {wildcards.shard}/{params.shards} --budgets {params.budgets:q} --threads {threads} "
        "> {log:q} 2>&1"
