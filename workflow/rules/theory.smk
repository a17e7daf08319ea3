rule theory:
    output:
        summary="results/theory/theory.json",
        bands="results/theory/bands.nc",
        wannier="results/theory/wannier.nc",
    params:
        lattice=config["lattice"],
        theory=config["theory"],
        atom=config["atom"],
        pump=config["pump"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=minutes(30),
    log:
        "logs/theory.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/theory.py"
