rule evaluate:
    input:
        model=eval_model_dir,
        vau="results/vaubench/linked",
        built="results/vaubench/built",
        ball="results/ball/linked",
    output:
        directory("results/eval/{model}"),
    log:
        "logs/eval/{model}.log",
    benchmark:
        "benchmarks/evaluate/{model}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: config["eval"]["threads"]
    resources:
        gpu=0,
    params:
        cells=lambda wc: as_json(EVAL_MODELS[wc.model]),
        budgets=as_json(config["frames"]["budgets"]),
        settings=as_json(config["eval"]),
        partial=lambda wc: f"checkpoints/eval/{wc.model}",
    shell:
        "OMP_NUM_THREADS={threads} vauflow eval run --model {input.model:q} --cells {params.cells:q} "
        "--vau-data {input.vau:q} --ball-data {input.ball:q} --built {input.built:q} "
        "--budgets {params.budgets:q} --settings {params.settings:q} --partial {params.partial:q} "
        "--out {output:q} > {log:q} 2>&1"


rule tables:
    input:
        expand("results/eval/{model}", model=EVAL_MODELS),
        built="results/vaubench/built",
        ball="results/ball/linked",
    output:
        md=report("results/tables/tables.md", category="Tables"),
        json="results/tables/tables.json",
    log:
        "logs/tables.log",
    benchmark:
        "benchmarks/tables.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        config=as_json(config),
        repo=workflow.basedir,
        seed=config["seed"],
    shell:
        "vauflow eval tables --config {params.config:q} --eval results/eval --built {input.built:q} "
        "--ball-data {input.ball:q} --repo {params.repo:q} --seed {params.seed} --out results/tables "
        "> {log:q} 2>&1"
