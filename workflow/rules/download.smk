# one rule fetches every download: a dataset's videos (resources/videos/<dataset>) and, when the annotations are
# downloaded too, VAU-Bench's CSVs (resources/annotations/vaubench); the manifest names each by its last part
DOWNLOADS = [f"videos/{d}" for d in DOWNLOAD_DATASETS] + (
    ["annotations/vaubench"] if ANNOTATIONS["origin"] == "download" else []
)


rule download:
    output:
        directory("resources/{download}"),
    log:
        "logs/download/{download}.log",
    wildcard_constraints:
        download=regex_or_nothing(DOWNLOADS),
    retries: 2
    localrule: True
    conda:
        "../../envs/data.yaml"
    container:
        config["containers"]["data"]
    resources:
        download=1,
    params:
        name=lambda wc: Path(wc.download).name,
        manifest=config["download"]["manifest"],
        lock=config["download"]["lock_file"],
        retries=config["download"]["retries"],
        timeout=config["download"]["timeout_s"],
    shell:
        "vauflow download --manifest {params.manifest:q} --dataset {params.name} --out {output:q} "
        "--lock {params.lock:q} --retries {params.retries} --timeout {params.timeout} > {log:q} 2>&1"
