rule simulate:
    output:
        manifest="results/simulated/manifest.csv",
        truth="results/simulated/truth.json",
        dynamics="results/simulated/dynamics.nc",
        frames=directory("results/simulated/frames"),
    params:
        simulation=config["simulation"],
        imaging=config["imaging"],
        lattice=config["lattice"],
        atom=config["atom"],
    log:
        "logs/simulate.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/simulate.py"
