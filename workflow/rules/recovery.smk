# Recovery (runs with a truth: simulated or injected): bias, pulls and efficiency of every estimator against
# truth.json, and the nu pull, for the report (results/fit/recovery.json) and a pull histogram.

if GENERATED_RUN:

    rule recovery:
        input:
            com="results/com/com.nc",
            summary="results/fit/summary.json",
            truth=truth_path,
        output:
            recovery="results/fit/recovery.json",
            figure=report(
                "results/figures/recovery_pulls.png",
                caption="../report/recovery_pulls.rst",
                category="Pump",
            ),
            figure_pdf="results/figures/recovery_pulls.pdf",
        threads: 1
        resources:
            mem_mb=1000,
            runtime=minutes(5, per_10k_shots=5),
        log:
            "logs/recovery.log",
        conda:
            "../envs/atompump.yaml"
        script:
            "../scripts/recovery.py"
