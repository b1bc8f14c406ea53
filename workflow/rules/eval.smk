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
    container:
        config["containers"]["eval"]
    threads: config["eval"]["threads"]
    resources:
        gpu=0,
        gpu_mem_gb=0,  # a profile's GPU memory: the memory plan refuses a job that cannot fit (common.smk)
    params:
        cells=lambda wc: as_json(EVAL_MODELS[wc.model]),
        budgets=as_json(config["frames"]["budgets"]),
        settings=as_json(config["eval"]),
        partial=lambda wc: f"checkpoints/eval/{wc.model}",
        dtype=config["model"]["dtype"],
        accelerate=str(Path(workflow.basedir) / "workflow" / "accelerate" / "multi_gpu.yaml"),
        port=lambda wc: job_port(wc, "evaluate"),
    shell:
        "OMP_NUM_THREADS={threads} vauflow launch --gpus {resources.gpu} --accelerate-config {params.accelerate:q} --port {params.port} -- "
        "eval run --model {input.model:q} --cells {params.cells:q} "
        "--vau-data {input.vau:q} --ball-data {input.ball:q} --built {input.built:q} "
        "--budgets {params.budgets:q} --settings {params.settings:q} --partial {params.partial:q} "
        "--dtype {params.dtype} --out {output:q} > {log:q} 2>&1"


rule vau_eval:
    input:
        predictions="results/eval/{model}",
        vau="results/vaubench/linked",
    output:
        "results/vau_eval/{model}.json",
    log:
        "logs/vau_eval/{model}.log",
    benchmark:
        "benchmarks/vau_eval/{model}.tsv"
    conda:
        "../../envs/data.yaml"
    container:
        config["containers"]["data"]
    params:
        splits=as_json(test_splits(config)),
        scorer=config["eval"]["judge"]["scorer"],
        llm=as_json(config["llm"]),
        cache=lambda wc: f"checkpoints/judge/{wc.model}.jsonl",
    shell:
        "vauflow eval judge --eval {input.predictions:q} --vau-data {input.vau:q} --splits {params.splits:q} "
        "--scorer {params.scorer} --llm {params.llm:q} --cache {params.cache:q} --out {output:q} > {log:q} 2>&1"


rule tables:
    input:
        evals=expand("results/eval/{model}", model=EVAL_MODELS),
        judged=expand("results/vau_eval/{model}.json", model=JUDGED_MODELS),
        built="results/vaubench/built",
        vau="results/vaubench/linked",
        ball="results/ball/linked",
    output:
        md=report("results/tables/tables.md", category="Tables"),
        json="results/tables/tables.json",
        csv="results/tables/tables.csv",
        tex="results/tables/tables.tex",
    log:
        "logs/tables.log",
    benchmark:
        "benchmarks/tables.tsv"
    conda:
        "../../envs/data.yaml"
    container:
        config["containers"]["data"]
    params:
        config=as_json(config),
        repo=workflow.basedir,
        seed=config["seed"],
        eval_dir=lambda wc, input: str(Path(input.evals[0]).parent),
        # (no judged model when eval.reasoning is off: the folder is then not read)
        vau_eval_dir=lambda wc, input: str(Path(input.judged[0]).parent) if input.judged else "-",
        out=lambda wc, output: str(Path(output.md).parent),
    shell:
        "vauflow eval tables --config {params.config:q} --eval {params.eval_dir:q} "
        "--vau-eval {params.vau_eval_dir:q} --built {input.built:q} --vau-data {input.vau:q} "
        "--ball-data {input.ball:q} --repo {params.repo:q} --seed {params.seed} --out {params.out:q} "
        "> {log:q} 2>&1"


rule plots:
    input:
        tables="results/tables/tables.json",
        evals=expand("results/eval/{model}", model=EVAL_MODELS),
        built="results/vaubench/built",
        sft=expand("results/sft/{run}", run=SFT_RUNS),
        grpo=expand("results/grpo/{run}", run=GRPO_RUNS),
    output:
        training=report(
            directory("results/report/training"),
            patterns=["{name}.svg"],
            caption="../report/training.rst",
            category="Training curves",
            labels={"run": "{name}"},
        ),
        evaluation=report(
            directory("results/report/eval"),
            patterns=["{name}.svg"],
            caption="../report/eval.rst",
            category="Evaluation",
            labels={"figure": "{name}"},
        ),
    log:
        "logs/plots.log",
    benchmark:
        "benchmarks/plots.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        config=as_json(config),
        eval_dir=lambda wc, input: str(Path(input.evals[0]).parent),
        out=lambda wc, output: str(Path(output.training).parent),
    shell:
        "vauflow report --config {params.config:q} --tables {input.tables:q} --eval {params.eval_dir:q} "
        "--built {input.built:q} --sft {input.sft:q} --grpo {input.grpo:q} --out {params.out:q} "
        "> {log:q} 2>&1"
