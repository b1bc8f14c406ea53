rule build_model:
    input:
        vau="results/vaubench/linked",
        ball="results/ball/linked",
    output:
        directory("resources/models/{model}"),
    log:
        "logs/model/build_{model}.log",
    benchmark:
        "benchmarks/build_model/{model}.tsv"
    wildcard_constraints:
        model=regex_or_nothing(BUILD_MODELS),
    conda:
        "../../envs/train.yaml"
    threads: 2  # alone on 2 cores: its time is measured against the build budget
    params:
        spec=lambda wc: as_json(MODELS[wc.model]),
        seed=config["seed"],
    shell:
        "vauflow model build --name {wildcards.model:q} --spec {params.spec:q} --vau-linked {input.vau:q} "
        "--ball-linked {input.ball:q} --seed {params.seed} --out {output:q} > {log:q} 2>&1"


rule fetch_model:
    output:
        directory("resources/models/{model}"),
    log:
        "logs/model/fetch_{model}.log",
    wildcard_constraints:
        model=regex_or_nothing(HUB_MODELS),
    retries: 2
    localrule: True
    conda:
        "../../envs/train.yaml"
    params:
        spec=lambda wc: as_json(MODELS[wc.model]),
        lock=config["download"]["model_lock_file"],
    shell:
        "vauflow model fetch --spec {params.spec:q} --out {output:q} --lock {params.lock:q} > {log:q} 2>&1"
