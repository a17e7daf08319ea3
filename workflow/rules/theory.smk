rule theory:
    output:
        summary="results/theory/theory.json",
        bands="results/theory/bands.nc",
        wannier="results/theory/wannier.nc",
    params:
        lattice=config["lattice"],
        theory=keys_of("theory", "n_bands", "n_k", "n_phi", "n_max", "interaction"),
        atom=config["atom"],
        pump=keys_of("pump", *POPULATION_KEYS),
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


rule prediction:
    input:
        dynamics=simulated_dynamics,
    output:
        prediction="results/theory/prediction.json",
    params:
        theory=keys_of("theory", "dynamics"),
        pump=config["pump"],
        numerics=config["simulation"]["pump"],
        tight_binding=config["simulation"]["tight_binding"],
        lattice=config["lattice"],
        atom=config["atom"],
        cycles=PLANNED_CYCLES,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=minutes(30),
    log:
        "logs/prediction.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/prediction.py"


rule superlattice_scan:
    output:
        scan="results/theory/superlattice_scan.nc",
        png=report(
            "results/figures/superlattice_scan.png",
            caption="../report/superlattice_scan.rst",
            category="Theory",
        ),
        pdf="results/figures/superlattice_scan.pdf",
    params:
        lattice=config["lattice"],
        theory=keys_of("theory", "n_bands"),
        atom=config["atom"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=minutes(10),
    log:
        "logs/superlattice_scan.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/superlattice_scan.py"
