rule template:
    input:
        batches=expand("results/reduce/batch-{batch}.nc", batch=BATCHES),
        check="results/reduce/input_check.json",
        basis="results/reduce/fringe_basis.nc",
    output:
        template="results/com/template.nc",
    params:
        com=keys_of("com", "window_margin", "template_shots", "max_masked_fraction"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=minutes(15),
    log:
        "logs/com/template.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/template.py"


rule com_batch:
    input:
        reduced="results/reduce/batch-{batch}.nc",
        check="results/reduce/input_check.json",
        basis="results/reduce/fringe_basis.nc",
        template="results/com/template.nc",
    output:
        com="results/com/batch-{batch}.nc",
    params:
        imaging=keys_of("imaging", "cross_section_um2"),
        com=keys_of("com", "estimator", "profile_model", "window_margin", "max_masked_fraction", "min_atom_number"),
        atom=config["atom"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=minutes(15),
    log:
        "logs/com/batch-{batch}.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/com_batch.py"


rule gather_com:
    input:
        batches=expand("results/com/batch-{batch}.nc", batch=BATCHES),
    output:
        com="results/com/com.nc",
    params:
        com=keys_of("com", "estimator", "atom_number_outlier_mads"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=minutes(5, per_10k_shots=5),
    log:
        "logs/com/gather.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/gather_com.py"
