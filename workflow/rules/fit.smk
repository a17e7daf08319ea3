rule fit:
    input:
        com="results/com/com.nc",
        theory="results/theory/theory.json",
    output:
        summary="results/fit/summary.json",
        fit="results/fit/fit.nc",
    params:
        fit=config["fit"],
    log:
        "logs/fit.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/fit.py"
