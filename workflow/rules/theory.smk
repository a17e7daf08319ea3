rule theory:
    output:
        summary="results/theory/theory.json",
        bands="results/theory/bands.nc",
        wannier="results/theory/wannier.nc",
    params:
        lattice=config["lattice"],
        theory=config["theory"],
        atom=config["atom"],
    log:
        "logs/theory.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/theory.py"
