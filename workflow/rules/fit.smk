rule fit:
    input:
        com="results/com/com.nc",
        theory="results/theory/theory.json",
        prediction="results/theory/prediction.json",
    output:
        summary="results/fit/summary.json",
        fit="results/fit/fit.nc",
    params:
        fit=config["fit"],
        on_bad_shot=config["data"]["on_bad_shot"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=minutes(15, per_10k_shots=15),
    log:
        "logs/fit.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/fit.py"
