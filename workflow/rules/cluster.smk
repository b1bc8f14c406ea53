rule gpu_canary:
    output:
        "results/canary/gpu.json",
    log:
        "logs/gpu_canary.log",
    conda:
        "../../envs/train.yaml"
    container:
        config["containers"]["train"]
    resources:
        gpu=1,
    shell:
        "vauflow gpu-canary --expected {resources.gpu} --out {output:q} > {log:q} 2>&1"
