from atompump.report.catalog import BEFORE_FIT, FIGURES, trend_figures

TRENDS = trend_figures(config["report"]["trend_globals"])
EARLY = [spec for spec in FIGURES if spec.name in BEFORE_FIT]  # rule figures_before_fit
LATE = [spec for spec in FIGURES if spec.name not in BEFORE_FIT]  # rule figures


rule provenance:
    input:
        manifest=manifest_input,
        shots="results/reduce/shots.nc",
    output:
        provenance="results/report/provenance.json",
        checksums="results/report/checksums.tsv",
    params:
        config=config,
        git_revision=GIT_REVISION,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=minutes(5, per_10k_shots=10),
    log:
        "logs/provenance.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/provenance.py"


rule figures_before_fit:
    input:
        bands="results/theory/bands.nc",
        wannier="results/theory/wannier.nc",
        example="results/reduce/example.nc",
    output:
        **{
            spec.name: report(
                f"results/figures/{spec.name}.png",
                caption=f"../report/{spec.name}.rst",
                category=spec.category,
            )
            for spec in EARLY
        },
        **{f"{spec.name}_pdf": f"results/figures/{spec.name}.pdf" for spec in EARLY},
    threads: 1
    resources:
        mem_mb=2000,
        runtime=minutes(10),
    log:
        "logs/figures_before_fit.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/figures_before_fit.py"


rule figures:
    input:
        com="results/com/com.nc",
        summary="results/fit/summary.json",
        fit="results/fit/fit.nc",
        bands="results/theory/bands.nc",
        wannier="results/theory/wannier.nc",
        example="results/reduce/example.nc",
        provenance="results/report/provenance.json",
    output:
        **{
            spec.name: report(
                f"results/figures/{spec.name}.png",
                caption=f"../report/{spec.name}.rst",
                category=spec.category,
            )
            for spec in LATE
        },
        **{f"{spec.name}_pdf": f"results/figures/{spec.name}.pdf" for spec in LATE},
        # trends against acquisition time and report.trend_globals
        **{
            spec.name: report(
                f"results/figures/{spec.name}.png",
                caption="../report/trends.rst",
                category=spec.category,
            )
            for spec in TRENDS
        },
        **{f"{spec.name}_pdf": f"results/figures/{spec.name}.pdf" for spec in TRENDS},
        pdf="results/report/report.pdf",
    params:
        title=config["report"]["title"],
        trend_globals=config["report"]["trend_globals"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=minutes(15, per_10k_shots=5),
    log:
        "logs/figures.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/figures.py"


rule report:
    input:
        summary="results/fit/summary.json",
        com="results/com/com.nc",
        provenance="results/report/provenance.json",
        figures=[f"results/figures/{spec.name}.png" for spec in FIGURES],
        trends=[f"results/figures/{spec.name}.png" for spec in TRENDS],
        theory="results/theory/theory.json",
        fit="results/fit/fit.nc",
        scan=superlattice_scan_figure,
        truth=truth_path,
        recovery=recovery_paths,
    output:
        html="results/report/report.html",
    params:
        title=config["report"]["title"],
        trend_globals=config["report"]["trend_globals"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=minutes(10, per_10k_shots=5),
    log:
        "logs/report.log",
    conda:
        "../envs/atompump.yaml"
    script:
        "../scripts/report.py"
