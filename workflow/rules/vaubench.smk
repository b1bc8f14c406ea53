rule vaubench_build:
    input:
        annotations=annotations_dir(),
    output:
        directory("results/vaubench/built"),
    log:
        "logs/vaubench/build.log",
    benchmark:
        "benchmarks/vaubench_build/build.tsv"
    conda:
        "../../envs/data.yaml"
    container:
        config["containers"]["data"]
    params:
        sources=as_json(SOURCES),
    shell:
        "vauflow vaubench build --annotations {input.annotations:q} --out {output:q} "
        "--sources {params.sources:q} > {log:q} 2>&1"


rule vaubench_link:
    input:
        built="results/vaubench/built",
        frames=frame_shards(VAU_DATASETS),
    output:
        directory("results/vaubench/linked"),
    log:
        "logs/vaubench/link.log",
    benchmark:
        "benchmarks/vaubench_link/link.tsv"
    conda:
        "../../envs/data.yaml"
    container:
        config["containers"]["data"]
    params:
        off=["--off", *OFF_DATASETS] if OFF_DATASETS else [],  # names match ^[a-z][a-z0-9_]*$ (schema)
    shell:
        "vauflow vaubench link --annotations {input.built:q} --frames {input.frames:q} "
        "{params.off} --out {output:q} > {log:q} 2>&1"


rule ball_link:
    input:
        annotations="resources/annotations/ball",
        frames=frame_shards(["ball"]),
    output:
        directory("results/ball/linked"),
    log:
        "logs/ball/link.log",
    benchmark:
        "benchmarks/ball_link/link.tsv"
    conda:
        "../../envs/data.yaml"
    container:
        config["containers"]["data"]
    shell:
        "vauflow ball link --annotations {input.annotations:q} --frames {input.frames:q} "
        "--out {output:q} > {log:q} 2>&1"
