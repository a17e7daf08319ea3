rule simulate:
    output:
        manifest="results/simulated/manifest.csv",
        truth="results/simulated/truth.json",
        dynamics="results/simulated/dynamics.nc",
        frames=directory("results/simulated/frames"),
    params:
        simulation=config["simulation"],
        imaging=keys_of("imaging", *CAMERA_KEYS),
        lattice=config["lattice"],
        atom=config["atom"],
        pump=config["pump"],
    threads: 2  # the two pump directions' dynamics at once
    resources:
        mem_mb=2000,
        runtime=minutes(SIMULATE_FIXED_MINUTES, per_10k_shots=30),
    log:
        "logs/simulate.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/simulate.py"
