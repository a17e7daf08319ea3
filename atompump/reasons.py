"""Why a shot is rejected: a code (:class:`RejectCause`) next to the text, from where the cause is found to the files.

Every reject reason is written where its cause is found, as a :class:`Reason`: the text a user reads (a ``str``,
naming the file, the frame and what to do) carrying its code ``cause``. The code travels with the text: on
:class:`~atompump.errors.InputDataError` (``cause``), in ``ShotRecord.problem``, and into the files as a per-shot
string variable beside the text (``problem_cause`` in the run table, ``reject_cause`` beside ``reject_reason`` in
the reduced batches and ``com.nc``). Counts by cause (``summary.json`` ``rejected_by_cause``, the report) group the
codes, never the texts.

An :class:`~atompump.errors.InputDataError` raised without a cause while a shot's files are opened or read is
:attr:`RejectCause.UNREADABLE` (:func:`reason_of`).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Reason", "RejectCause", "cause_code", "reason_of"]


class RejectCause(StrEnum):
    """The cause of a rejected shot. The value is the code written to the files; :attr:`label` the report's text."""

    # the run's description of the shot (manifest row, labscript globals)
    PROTOCOL = "protocol"
    SHOT_ID = "shot_id"
    MIXED_INPUT = "mixed_input"
    # the shot's files, from their headers
    MISSING_FILE = "missing_file"
    UNREADABLE = "unreadable"
    UNSUPPORTED_FRAME = "unsupported_frame"
    FRAME_SHAPES = "frame_shapes"
    RUN_SHAPE = "run_shape"
    # the pixels
    NON_FINITE = "non_finite"
    ALL_ZERO = "all_zero"
    NO_PROBE_LIGHT = "no_probe_light"
    ATOMS_SATURATED = "atoms_saturated"
    PROBE_SATURATED = "probe_saturated"
    DARK_BRIGHTER = "dark_brighter"
    ATOMS_BRIGHTER = "atoms_brighter"
    NO_ATOMS_LIGHT = "no_atoms_light"
    NEGATIVE_OD = "negative_od"
    NOT_OD = "not_od"
    FEW_FINITE_OD = "few_finite_od"
    # the cloud (centre-of-mass stage)
    NO_CLOUD = "no_cloud"
    CLOUD_CUT = "cloud_cut"
    CLOUD_BEYOND_ROI = "cloud_beyond_roi"
    CLOUD_MASKED = "cloud_masked"
    NO_ATOM_FREE_PIXELS = "no_atom_free_pixels"
    FEW_ATOMS = "few_atoms"
    ATOM_NUMBER_OUTLIER = "atom_number_outlier"
    FIT_FAILED = "fit_failed"
    TEMPLATE_FAILED = "template_failed"

    @property
    def label(self) -> str:
        """What the report calls the cause."""
        return _LABELS[self]


_LABELS = {
    RejectCause.PROTOCOL: "bad protocol value (cycle, direction, reference, repeat, order, sequence_cycles)",
    RejectCause.SHOT_ID: "empty or duplicate shot id",
    RejectCause.MIXED_INPUT: "optical-density images and camera frames mixed",
    RejectCause.MISSING_FILE: "file does not exist",
    RejectCause.UNREADABLE: "cannot read the file or the frame",
    RejectCause.UNSUPPORTED_FRAME: "frame not a 2D image of camera counts",
    RejectCause.FRAME_SHAPES: "frames of different shapes",
    RejectCause.RUN_SHAPE: "frame shape differs from the run's",
    RejectCause.NON_FINITE: "NaN or infinite pixels",
    RejectCause.ALL_ZERO: "all-zero frame",
    RejectCause.NO_PROBE_LIGHT: "no probe light",
    RejectCause.ATOMS_SATURATED: "camera saturated in the atoms frame",
    RejectCause.PROBE_SATURATED: "camera saturated in the probe frame",
    RejectCause.DARK_BRIGHTER: "dark frame brighter than the probe frame",
    RejectCause.ATOMS_BRIGHTER: "atoms frame brighter than the probe frame",
    RejectCause.NO_ATOMS_LIGHT: "no light in the atoms frame",
    RejectCause.NEGATIVE_OD: "negative optical density",
    RejectCause.NOT_OD: "not an optical density",
    RejectCause.FEW_FINITE_OD: "too few finite optical-density pixels",
    RejectCause.NO_CLOUD: "no cloud signal",
    RejectCause.CLOUD_CUT: "cloud cut by the frame edge",
    RejectCause.CLOUD_BEYOND_ROI: "cloud beyond the region of interest",
    RejectCause.CLOUD_MASKED: "cloud masked (no probe light or a saturated camera)",
    RejectCause.NO_ATOM_FREE_PIXELS: "no atom-free pixels to measure the noise",
    RejectCause.FEW_ATOMS: "atom number below com.min_atom_number",
    RejectCause.ATOM_NUMBER_OUTLIER: "atom-number outlier",
    RejectCause.FIT_FAILED: "profile fit failed",
    RejectCause.TEMPLATE_FAILED: "template registration failed",
}


class Reason(str):
    """A reject reason: its text (this ``str``) with its :class:`RejectCause` as ``cause`` (None for the empty
    reason of a good shot). String operations give plain ``str``: keep the object itself where the cause must
    follow.

    Parameters
    ----------
    text : str
    cause : RejectCause or its code, optional
        Required for a non-empty text.
    """

    cause: RejectCause | None

    def __new__(cls, text: str = "", cause: RejectCause | str | None = None) -> Reason:
        out = super().__new__(cls, text)
        if text and not cause:
            raise ValueError(f"a reject reason needs its cause: {text!r}")
        out.cause = RejectCause(cause) if text else None
        return out

    def __getnewargs__(self) -> tuple[str, RejectCause | None]:  # pickle and copy keep the cause
        return str(self), self.cause

    @property
    def code(self) -> str:
        """The cause's code ('' for a good shot): what the files hold beside the text."""
        return "" if self.cause is None else self.cause.value


def reason_of(exc: Exception, default: RejectCause = RejectCause.UNREADABLE) -> Reason:
    """The :class:`Reason` of an exception met while a shot's files were opened or read: its text with its
    ``cause`` (an :class:`~atompump.errors.InputDataError` raised with one), else ``default``."""
    return Reason(str(exc), getattr(exc, "cause", None) or default)


def cause_code(reason: str) -> str:
    """The code of a reason's cause, as the files hold it beside the text: '' for an empty reason.

    Raises
    ------
    TypeError
        A non-empty reason that is a plain ``str`` (its cause was lost on the way: keep the :class:`Reason`).
    """
    if isinstance(reason, Reason):
        return reason.code
    if reason:
        raise TypeError(f"reject reason without a cause (a plain str, not a Reason): {reason!r}")
    return ""
