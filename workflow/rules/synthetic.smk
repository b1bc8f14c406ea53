rule synth_ball:
    output:
        videos=directory("resources/videos/ball"),
        annotations=directory("resources/annotations/ball"),
    log:
        "logs/synth_ball.log",
    benchmark:
        "benchmarks/synth_ball/ball.tsv"
    conda:
        "../../envs/data.yaml"
    container:
        config["containers"]["data"]
    params:
        ball=as_json(config["synthetic"]["ball"]),
        llm=as_json(config["llm"]),
        seed=config["seed"],
        llm_cache="checkpoints/ball_cot.jsonl",  # resumable, outside Snakemake's outputs
    shell:
        "vauflow synth ball --params {params.ball:q} --seed {params.seed} --llm {params.llm:q} "
        "--llm-cache {params.llm_cache:q} "
        "--videos {output.videos:q} --annotations {output.annotations:q} > {log:q} 2>&1"


if SYNTH_VAU_DATASETS:

    rule synth_vau:
        output:
            videos=[directory(f"resources/videos/{d}") for d in SYNTH_VAU_DATASETS],
            annotations=directory("resources/annotations/vaubench"),
        log:
            "logs/synth_vau.log",
        benchmark:
            "benchmarks/synth_vau/vau.tsv"
        conda:
            "../../envs/data.yaml"
        container:
            config["containers"]["data"]
        params:
            vau=as_json(config["synthetic"]["vau"]),
            sources=as_json(SOURCES),
            seed=config["seed"],
            videos_root=lambda wc, output: str(Path(output.videos[0]).parent),
        shell:
            "vauflow synth vau --params {params.vau:q} --sources {params.sources:q} --seed {params.seed} "
            "--videos-root {params.videos_root:q} --annotations {output.annotations:q} > {log:q} 2>&1"


if REHEARSAL_SOURCE:

    rule rehearsal_data:
        output:
            annotations=directory("resources/rehearsal/annotations"),
            videos=[directory(f"resources/rehearsal/videos/{d}") for d in REHEARSAL_VIDEOS],
        log:
            "logs/rehearsal_data.log",
        benchmark:
            "benchmarks/rehearsal_data/data.tsv"
        conda:
            "../../envs/data.yaml"
        container:
            config["containers"]["data"]
        params:
            source=REHEARSAL_SOURCE,
            rows=REHEARSAL["rows_per_split"],
            sources=as_json(SOURCES),
            seed=config["seed"],
            only=REHEARSAL_VIDEOS,
            videos_root="resources/rehearsal/videos",
        shell:
            "vauflow rehearsal --source {params.source:q} --annotations {output.annotations:q} "
            "--videos-root {params.videos_root:q} --datasets {params.only:q} --sources {params.sources:q} "
            "--rows-per-split {params.rows} --seed {params.seed} > {log:q} 2>&1"
