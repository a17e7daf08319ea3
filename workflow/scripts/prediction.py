"""Adapter: the full prediction of the pump sequence (exact dynamics of the shared model)."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages.theory import prediction_stage

run_stage(
    snakemake.log[0],
    prediction_stage,
    snakemake.output.prediction,
    theory=snakemake.params.theory,
    pump=snakemake.params.pump,
    numerics=snakemake.params.numerics,
    tight_binding=snakemake.params.tight_binding,
    lattice=snakemake.params.lattice,
    atom=snakemake.params.atom,
    cycles=snakemake.params.cycles,
    dynamics_path=snakemake.input.dynamics[0] if snakemake.input.dynamics else None,
)
