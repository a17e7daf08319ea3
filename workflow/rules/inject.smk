# Injection (data.source: injected): a known cloud moving by injection.nu per cycle, absorbed into the frames of the
# lab's own run (data.manifest / data.shots), written as a run folder like the simulator's (manifest.csv, frames/,
# truth.json). Everything downstream runs as for a simulated run.


rule inject:
    input:
        manifest=source_manifest,
        frames=source_input_files,
        image=injection_image,
    output:
        manifest="results/injected/manifest.csv",
        truth="results/injected/truth.json",
        frames=directory("results/injected/frames"),
    params:
        data=keys_of("data", *RUN_DATA_KEYS),
        injection=config["injection"],
        imaging=keys_of("imaging", *CAMERA_KEYS),
        lattice=config["lattice"],
        atom=config["atom"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=minutes(10, per_10k_shots=30),
    log:
        "logs/inject.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/inject.py"
