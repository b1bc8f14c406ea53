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


# each consumer's frames at its own size: the input builder never resizes (torch, so not in the decoding job)
rule size_frames:
    input:
        "results/frames/{dataset}/shard-{shard}",
    output:
        directory("results/frames/{dataset}/sized-{shard}"),
    log:
        "logs/frames/{dataset}/sized-{shard}.log",
    benchmark:
        "benchmarks/size_frames/{dataset}/shard-{shard}.tsv"
    conda:
        "../../envs/train.yaml"
    container:
        config["containers"]["train"]
    threads: 1
    shell:
        "vauflow frames size --frames {input:q} --out {output:q} --threads {threads} > {log:q} 2>&1"
