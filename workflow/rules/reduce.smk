rule reduce_batch:
    input:
        manifest=manifest_path,
    output:
        reduced="results/reduce/batch-{batch}.nc",
    params:
        batch_size=config["data"]["batch_size"],
        imaging=config["imaging"],
        on_bad_shot=config["data"]["on_bad_shot"],
    log:
        "logs/reduce/batch-{batch}.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/reduce_batch.py"
