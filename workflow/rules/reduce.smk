# Reduction: the run table (one job), ROI and fringe basis (one job, a bounded sample of shots), the OD of each
# batch (one job per batch), and a check that lists every bad shot of the run before any centre of mass is fitted
# (and writes the example shot's panels for the report).


rule shots:
    input:
        manifest=manifest_input,
        frames=run_input_files,
    output:
        shots="results/reduce/shots.nc",
    params:
        data=keys_of("data", *RUN_DATA_KEYS),
        batch_size=config["data"]["batch_size"],
        generated=bool(GENERATED_RUN),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=minutes(10, per_10k_shots=10),
    log:
        "logs/reduce/shots.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/shots.py"


rule fringe_basis:
    input:
        shots="results/reduce/shots.nc",
    output:
        basis="results/reduce/fringe_basis.nc",
    params:
        imaging=keys_of(
            "imaging",
            *OD_KEYS,
            "roi",
            "roi_sample_shots",
            "fringe_removal",
            "fringe_max_frames",
            "fringe_basis_size",
            "pixel_size_um",
        ),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=minutes(15),
    log:
        "logs/reduce/fringe_basis.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/fringe_basis.py"


rule reduce_batch:
    input:
        shots="results/reduce/shots.nc",
        basis="results/reduce/fringe_basis.nc",
    output:
        reduced="results/reduce/batch-{batch}.nc",
    params:
        imaging=keys_of("imaging", *OD_KEYS, "pixel_size_um", "pump_axis"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=minutes(15),
    log:
        "logs/reduce/batch-{batch}.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/reduce_batch.py"


rule check_reduce:
    input:
        batches=expand("results/reduce/batch-{batch}.nc", batch=BATCHES),
        shots="results/reduce/shots.nc",
        basis="results/reduce/fringe_basis.nc",
    output:
        check="results/reduce/input_check.json",
        example="results/reduce/example.nc",
    params:
        on_bad_shot=config["data"]["on_bad_shot"],
        reduction=keys_of("imaging", *OD_KEYS),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=minutes(5, per_10k_shots=5),
    log:
        "logs/reduce/check.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/check_reduce.py"
