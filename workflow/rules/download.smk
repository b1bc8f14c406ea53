rule download_videos:
    output:
        directory("resources/videos/{dataset}"),
    log:
        "logs/download/{dataset}.log",
    wildcard_constraints:
        dataset=regex_or_nothing(DOWNLOAD_DATASETS),
    retries: 2
    localrule: True
    conda:
        "../../envs/data.yaml"
    resources:
        download=1,
    params:
        manifest=config["download"]["manifest"],
        lock=config["download"]["lock_file"],
        retries=config["download"]["retries"],
        timeout=config["download"]["timeout_s"],
    shell:
        "vauflow download --manifest {params.manifest:q} --dataset {wildcards.dataset} --out {output:q} "
        "--lock {params.lock:q} --retries {params.retries} --timeout {params.timeout} > {log:q} 2>&1"


if ANNOTATIONS["origin"] == "download":

    rule download_annotations:
        output:
            directory("resources/annotations/vaubench"),
        log:
            "logs/download/vaubench.log",
        retries: 2
        localrule: True
        conda:
            "../../envs/data.yaml"
        resources:
            download=1,
        params:
            manifest=config["download"]["manifest"],
            lock=config["download"]["lock_file"],
            retries=config["download"]["retries"],
            timeout=config["download"]["timeout_s"],
        shell:
            "vauflow download --manifest {params.manifest:q} --dataset vaubench --out {output:q} "
            "--lock {params.lock:q} --retries {params.retries} --timeout {params.timeout} > {log:q} 2>&1"
