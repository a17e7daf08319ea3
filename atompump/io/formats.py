"""Camera image files of any common lab format, opened by content and read one frame at a time.

:func:`open_image` looks at the first bytes of a file (its magic number) and, only when they say nothing, at its
extension, and returns an :class:`ImageFile` that lists the file's frames and reads any one of them without
reading the others. Nothing is read before it is needed: header-level checks (:meth:`ImageFile.check`) see a
truncated file, a missing frame, a shape or an unsupported dtype without reading pixels, so a whole run can be
validated cheaply before any job reads an image.

========  =============================================  =========================================================
format    detected by (magic bytes; extension)           frames
========  =============================================  =========================================================
TIFF      ``II*\\0``, ``MM\\0*``, BigTIFF; .tif .tiff     pages (or the planes of a page stored with separate
                                                         samples), 8/16/32-bit integer or float (tifffile); unnamed
FITS      ``SIMPLE  =``; .fits .fit .fts                 every image HDU: a 2D HDU is one frame (named by its
                                                         EXTNAME), a 3D cube is one frame per plane (unnamed);
                                                         BZERO/BSCALE applied (astropy.io.fits)
PNG, BMP  ``\\x89PNG``, ``BM``; .png .bmp                  one greyscale frame, 8 or 16 bit (Pillow); colour refused
NPZ       ``PK\\x03\\x04``; .npz                           one frame per 2D array, named by its key; a 3D array
                                                         holds unnamed planes
NPY       ``\\x93NUMPY``; .npy                             one 2D frame, or the planes of a 3D array
HDF5      HDF5 signature (h5py); .h5 .hdf5 .hdf          labscript layout: the 2D datasets of the group
                                                         ``/images/<orientation>/<label>``, named by dataset name;
                                                         or the planes of a 3D dataset at that path
Oqtant    a JSON object (``{``); .json .txt               a job result of the Oqtant cloud BEC service: every image
                                                         of ``inputs[i].output.values`` (``pixels``, ``rows``,
                                                         ``columns``, ``pixcal``), named by its key (``it_plot``:
                                                         the in-situ optical density), ``<key>/<i>`` when the job
                                                         has several inputs; float64 (already an OD)
========  =============================================  =========================================================

Frame keys
----------
A frame is selected by a *key*: ``None`` (the file's only frame), an ``int`` (page index, 0-based, in file order)
or a ``str`` (a frame name: NPZ key, FITS EXTNAME, HDF5 dataset name inside the group, or an absolute HDF5 path
starting with ``/``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from atompump.errors import InputDataError, literal
from atompump.reasons import RejectCause

__all__ = [
    "FORMATS",
    "FileLockedError",
    "ImageFile",
    "FrameKey",
    "check_dtype",
    "detect_format",
    "hdf5_value",
    "is_busy",
    "is_lock_error",
    "open_image",
    "open_when_ready",
]

log = logging.getLogger(__name__)

FrameKey = int | str | None


class FileLockedError(InputDataError):
    """A file that another program holds open for writing (HDF5 file locking: BLACS saving a shot, a lyse routine
    writing its results); worth waiting for (:func:`open_when_ready`)."""


def is_lock_error(exc: OSError) -> bool:
    """Whether h5py could not open a file because another process holds its HDF5 file lock (EAGAIN)."""
    return exc.errno == 11 or "unable to lock file" in str(exc)

# extension -> format, used only when the content says nothing
_EXTENSIONS = {
    ".tif": "tiff", ".tiff": "tiff", ".fits": "fits", ".fit": "fits", ".fts": "fits", ".png": "png",
    ".bmp": "bmp", ".npz": "npz", ".npy": "npy", ".h5": "hdf5", ".hdf5": "hdf5", ".hdf": "hdf5",
    ".json": "oqtant", ".txt": "oqtant",
}
FORMATS = ("tiff", "fits", "png", "bmp", "npz", "npy", "hdf5", "oqtant")
_MAGIC = (
    (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"), (b"II+\x00", "tiff"), (b"MM\x00+", "tiff"),
    (b"SIMPLE  =", "fits"), (b"\x89PNG\r\n\x1a\n", "png"), (b"BM", "bmp"), (b"PK\x03\x04", "npz"),
    (b"\x93NUMPY", "npy"), (b"\x89HDF\r\n\x1a\n", "hdf5"),
)


def check_dtype(dtype: np.dtype, *, source: str) -> None:
    """Refuse any pixel type but integer or floating-point camera counts (bool, complex, strings, records...)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "uif" or dtype.fields is not None:
        raise InputDataError(f"{source}: unexpected dtype {dtype}; expected integer or float camera counts "
                             "(8/16/32-bit integers or float32/64)", cause=RejectCause.UNSUPPORTED_FRAME)


def detect_format(path: str | os.PathLike) -> str:
    """The format of ``path`` from its first bytes, else from its extension.

    Raises
    ------
    InputDataError
        The file does not exist, is empty, or neither its content nor its extension is a supported format.
    """
    path = Path(path)
    try:  # (one open, no separate existence check: a run opens thousands of files)
        with open(path, "rb") as fh:
            head = fh.read(16)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise InputDataError(f"{literal(path)}: file does not exist; check the path in the manifest or {{pattern}}",
                             cause=RejectCause.MISSING_FILE, parameters=("pattern",)) from None
    if not head:
        raise InputDataError(f"{path}: the file is empty (0 bytes); the camera or the copy failed")
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    if head.lstrip()[:1] == b"{" and path.suffix.lower() in (".json", ".txt"):
        return "oqtant"
    try:
        import h5py

        if h5py.is_hdf5(path):  # HDF5 with a user block: the signature sits at 512, 1024, ...
            return "hdf5"
    except OSError:
        pass
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise InputDataError(f"{path}: unsupported frame format '{path.suffix.lower()}' (content not recognised); "
                             f"supported: TIFF, FITS, PNG, BMP, NPZ, NPY, HDF5, Oqtant JSON "
                             f"({', '.join(sorted(_EXTENSIONS))})")
    # the extension names a format whose signature is missing: the file is corrupt or truncated at its start
    raise InputDataError(f"{path}: cannot read as {fmt.upper()}: its first bytes are not a {fmt.upper()} header; "
                         "the file may be truncated or corrupt")


class ImageFile:
    """An open image file: its frames, read one at a time.

    Subclasses fill :attr:`frames`, a list of ``(name or None, locator)`` in file order, and implement
    :meth:`_shape_dtype` and :meth:`_read`. Use as a context manager, or call :meth:`close`.
    """

    format = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frames: list[tuple[str | None, Any]] = []

    # --- frame lookup -------------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Names of the named frames, in file order."""
        return [name for name, _ in self.frames if name is not None]

    def _describe(self) -> str:
        """What the file holds, as an :class:`InputDataError` message template (``parameters=("frames",)``)."""
        named = self.names
        if named:
            return f"{len(self.frames)} frame(s), named {literal(', '.join(named))}"
        return f"{len(self.frames)} unnamed frame(s) (pages 0..{len(self.frames) - 1})"

    def locate(self, key: FrameKey) -> Any:
        """The locator of the frame selected by ``key`` (see the module docstring)."""
        if key is None:
            if len(self.frames) != 1:
                raise InputDataError(f"{literal(self.path)}: holds {self._describe()}, not one; select a "
                                     "frame by page index or name (a 'file' manifest column with {frames})",
                                     parameters=("frames",))
            return self.frames[0][1]
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if not 0 <= key < len(self.frames):
                raise InputDataError(f"{literal(self.path)}: frame page {key} does not exist; the file holds "
                                     f"{self._describe()}", parameters=("frames",))
            return self.frames[int(key)][1]
        for name, locator in self.frames:
            if name == key:
                return locator
        found = self._lookup_path(str(key))
        if found is not None:
            return found
        raise InputDataError(f"{literal(self.path)}: frame {literal(repr(str(key)))} does not exist; the file holds "
                             f"{self._describe()}", parameters=("frames",))

    def _lookup_path(self, key: str) -> Any:
        return None

    # --- reading ------------------------------------------------------------------------------------------
    def shape_dtype(self, key: FrameKey) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype of a frame, from the header only."""
        return self._shape_dtype(self.locate(key))

    def check(self, key: FrameKey) -> tuple[int, int]:
        """Header-level check of one frame (exists, 2D, supported dtype, data present); returns its shape."""
        shape, dtype = self.shape_dtype(key)
        source = f"{self.path} frame {key!r}" if key is not None else str(self.path)
        check_dtype(dtype, source=source)
        if len(shape) != 2:
            raise InputDataError(f"{source}: expected one 2D frame, found an array of shape {tuple(shape)}",
                                 cause=RejectCause.UNSUPPORTED_FRAME)
        if 0 in shape:
            raise InputDataError(f"{source}: the frame is empty (shape {tuple(shape)})",
                                 cause=RejectCause.UNSUPPORTED_FRAME)
        return int(shape[0]), int(shape[1])

    def read(self, key: FrameKey) -> np.ndarray:
        """The raw frame (its dtype as stored, scaled for FITS BZERO/BSCALE)."""
        locator = self.locate(key)
        try:
            return np.asarray(self._read(locator))
        except InputDataError:
            raise
        except Exception as exc:  # every library raises its own types for corrupt data
            raise InputDataError(f"{self.path}: cannot read frame {key!r} as {self.format.upper()} "
                                 f"({type(exc).__name__}: {exc}); the file may be truncated or corrupt") from exc

    def _shape_dtype(self, locator: Any) -> tuple[tuple[int, ...], np.dtype]:
        raise NotImplementedError

    def _read(self, locator: Any) -> np.ndarray:
        raise NotImplementedError

    def attributes(self) -> dict[str, Any]:
        """File-level metadata (labscript globals for HDF5 shot files; empty elsewhere)."""
        return {}

    def close(self) -> None:
        """Release the file."""

    def __enter__(self) -> ImageFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _file_size(path: Path) -> int:
    return path.stat().st_size


class _Collector(logging.Handler):
    """A library logger's warnings and errors, kept while :func:`_captured_log` runs (attached once per logger:
    adding and removing a handler at every file opened costs as much as reading a small frame)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.messages is not None:
            self.messages.append(record.getMessage())


_COLLECTORS: dict[str, _Collector] = {}


@contextlib.contextmanager
def _captured_log(name: str):
    """Collect the warning and error messages a library logs while the block runs (not passed on meanwhile)."""
    logger = logging.getLogger(name)
    collector = _COLLECTORS.get(name)
    if collector is None:
        collector = _COLLECTORS[name] = _Collector()
        logger.addHandler(collector)
    previous, collector.messages = collector.messages, []
    propagate, logger.propagate = logger.propagate, False  # reported in our own error instead
    try:
        yield collector.messages
    finally:
        collector.messages = previous
        logger.propagate = propagate


class _Tiff(ImageFile):
    format = "tiff"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        import tifffile

        size = _file_size(path)
        with _captured_log("tifffile") as messages:  # tifffile logs, not raises, a page chain cut short
            self._tif = tifffile.TiffFile(path)
            pages = self._tif.pages
            n_pages = len(pages)
        if messages:
            self._tif.close()
            raise InputDataError(f"{path}: cannot read as TIFF ({'; '.join(messages)}); the file is truncated or "
                                 "corrupt")
        for index in range(n_pages):
            page = pages[index]
            end = max((o + c for o, c in zip(page.dataoffsets, page.databytecounts)), default=0)
            if end > size:
                raise InputDataError(f"{path}: cannot read as TIFF: page {index} needs {end} bytes but the file has "
                                     f"{size}; the file is truncated")
            shape = tuple(page.shape)
            if len(shape) == 3 and int(page.planarconfig) == 2:  # planes stored as separate samples of one page
                self.frames += [(None, (index, plane)) for plane in range(shape[0])]
            else:
                self.frames.append((None, (index, None)))

    def _shape_dtype(self, locator):
        index, plane = locator
        page = self._tif.pages[index]
        shape = tuple(page.shape)
        return (shape[1:] if plane is not None else shape), np.dtype(page.dtype)

    def _read(self, locator) -> np.ndarray:
        index, plane = locator
        data = self._tif.pages[index].asarray()
        return data if plane is None else data[plane]

    def close(self) -> None:
        self._tif.close()


class _Fits(ImageFile):
    format = "fits"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        from astropy.io import fits

        size = _file_size(path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self._hdul = fits.open(path, memmap=False, lazy_load_hdus=False)
        for warning in caught:  # astropy warns (and pads with zeros) on a truncated file; other warnings are harmless
            if "truncat" in str(warning.message).lower():
                self._hdul.close()
                raise InputDataError(f"{path}: cannot read as FITS ({warning.message}); the file is truncated")
            log.debug("%s: %s", path, warning.message)
        for index, hdu in enumerate(self._hdul):
            header = hdu.header
            naxis = int(header.get("NAXIS", 0))
            if not hdu.is_image or naxis == 0:
                continue
            shape = tuple(int(header[f"NAXIS{i}"]) for i in range(naxis, 0, -1))
            nbytes = abs(int(header["BITPIX"])) // 8 * int(np.prod(shape))
            start = self._hdul.fileinfo(index)["datLoc"]
            if start + nbytes > size:
                raise InputDataError(f"{path}: cannot read as FITS: HDU {index} needs {start + nbytes} bytes but the "
                                     f"file has {size}; the file is truncated")
            name = header.get("EXTNAME") if index > 0 else None
            if naxis == 3:
                self.frames += [(None, (index, plane)) for plane in range(shape[0])]
            else:
                self.frames.append((str(name) if name else None, (index, None)))

    def _shape_dtype(self, locator):
        index, plane = locator
        hdu = self._hdul[index]
        header = hdu.header
        naxis = int(header["NAXIS"])
        shape = tuple(int(header[f"NAXIS{i}"]) for i in range(naxis, 0, -1))
        if plane is not None:
            shape = shape[1:]
        bitpix = int(header["BITPIX"])
        bzero, bscale = header.get("BZERO", 0), header.get("BSCALE", 1)
        if bitpix < 0:
            dtype = np.dtype(f"float{-bitpix}")
        elif bscale != 1 or (bzero not in (0, 2 ** (bitpix - 1))):
            dtype = np.dtype("float64")
        elif bzero == 2 ** (bitpix - 1) and bitpix > 8:
            dtype = np.dtype(f"uint{bitpix}")
        else:
            dtype = np.dtype({8: "uint8", 16: "int16", 32: "int32", 64: "int64"}[bitpix])
        return shape, dtype

    def _read(self, locator) -> np.ndarray:
        index, plane = locator
        data = self._hdul[index].data  # scaled by BZERO/BSCALE
        return data if plane is None else data[plane]

    def close(self) -> None:
        self._hdul.close()


class _Pillow(ImageFile):
    def __init__(self, path: Path, fmt: str) -> None:
        super().__init__(path)
        from PIL import Image

        self.format = fmt
        try:
            with Image.open(path) as image:
                image.load()
                mode = image.mode
                if mode == "P":  # palette image: greyscale only when the palette is grey
                    rgb = np.asarray(image.convert("RGB"))
                    if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
                        raise InputDataError(f"{path}: colour (palette) image; camera frames must be greyscale")
                    array = rgb[..., 0]
                elif mode in ("L", "I;16", "I;16B", "I;16L", "I", "F"):
                    array = np.asarray(image)
                else:
                    raise InputDataError(f"{path}: colour image (mode {mode}); camera frames must be greyscale "
                                         "(8- or 16-bit)")
        except InputDataError:
            raise
        except Exception as exc:
            raise InputDataError(f"{path}: cannot read as {fmt.upper()} ({type(exc).__name__}: {exc}); the file may "
                                 "be truncated or corrupt") from exc
        self._array = array
        self.frames.append((None, 0))

    def _shape_dtype(self, locator):
        return self._array.shape, self._array.dtype

    def _read(self, locator) -> np.ndarray:
        return self._array


class _Npz(ImageFile):
    format = "npz"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            self._npz = np.load(path, allow_pickle=False)
            self._headers = {}
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    if not member.endswith(".npy"):
                        continue
                    with archive.open(member) as fh:
                        version = np.lib.format.read_magic(fh)
                        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                       else np.lib.format.read_array_header_2_0)
                        shape, _, dtype = read_header(fh)
                    self._headers[member[:-4]] = (shape, dtype)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise InputDataError(f"{path}: cannot read as NPZ ({type(exc).__name__}: {exc}); the file may be "
                                 "truncated") from exc
        for name, (shape, _) in self._headers.items():
            if len(shape) == 3:
                self.frames += [(None, (name, plane)) for plane in range(shape[0])]
            else:
                self.frames.append((name, (name, None)))

    def _shape_dtype(self, locator):
        name, plane = locator
        shape, dtype = self._headers[name]
        return (shape[1:] if plane is not None else shape), dtype

    def _read(self, locator) -> np.ndarray:
        name, plane = locator
        data = self._npz[name]
        return data if plane is None else data[plane]

    def close(self) -> None:
        self._npz.close()


class _Npy(ImageFile):
    format = "npy"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            self._array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise InputDataError(f"{path}: cannot read as NPY ({type(exc).__name__}: {exc}); the file may be "
                                 "truncated") from exc
        if self._array.ndim == 3:
            self.frames = [(None, plane) for plane in range(self._array.shape[0])]
        else:
            self.frames = [(None, None)]

    def _shape_dtype(self, locator):
        shape = self._array.shape if locator is None else self._array.shape[1:]
        return shape, self._array.dtype

    def _read(self, locator) -> np.ndarray:
        return np.array(self._array if locator is None else self._array[locator])

    def close(self) -> None:
        self._array = None


class _Hdf5(ImageFile):
    """HDF5 shot file in labscript's layout: frames are the datasets of ``group``.

    Without a group, or with one that holds no datasets itself (``/images/<orientation>`` only), the one group below
    it that holds frames is used (``/images/side/absorption`` in a file with one camera); several are an error that
    asks for ``data.frames.orientation`` and ``label``. A file without ``/images`` is read from its root.
    """

    format = "hdf5"

    def __init__(self, path: Path, group: str | None = None) -> None:
        super().__init__(path)
        import h5py

        try:
            self._h5 = h5py.File(path, "r")
        except OSError as exc:
            if is_lock_error(exc):  # another process holds the HDF5 lock (a writer)
                raise FileLockedError(f"{literal(path)}: the file is locked by another program that has it open "
                                      "for writing (BLACS saving the shot, a lyse routine saving results); raise "
                                      "{wait_s} to wait longer for it, or rerun when it is closed",
                                      parameters=("wait_s",)) from exc
            raise InputDataError(f"{path}: cannot read as HDF5 ({exc}); the file may be truncated or still being "
                                 "written") from exc
        self.group = group or "/images"
        node = self._h5.get(self.group)
        if node is None and group is None:
            self.group, node = "/", self._h5["/"]
        if node is None:
            self.close()
            found = ", ".join(self._image_groups()) or "no /images group"
            raise InputDataError(f"{literal(path)}: has no HDF5 group {literal(self.group)}; set {{orientation}} and "
                                 f"{{label}} to where the shot's images are (found: {literal(found)})",
                                 parameters=("orientation", "label"))
        if isinstance(node, h5py.Group) and not any(isinstance(v, h5py.Dataset) for v in node.values()):
            # no frames here: the one image group below (labscript: /images/<orientation>/<label>)
            holders = self._frame_holders(node)
            if len(holders) > 1:
                self.close()
                raise InputDataError(f"{literal(path)}: holds several image groups ({literal(', '.join(holders))}); "
                                     "set {orientation} and {label} to choose one", parameters=("orientation", "label"))
            if holders:
                self.group, node = holders[0], self._h5[holders[0]]
        self.stack: str | None = None  # a 3D dataset whose pages are the frames (see _describe)
        datasets = [item for item in node.values() if isinstance(item, h5py.Dataset)] if isinstance(
            node, h5py.Group) else []
        if len(datasets) == 1 and datasets[0].ndim == 3:
            # labscript's camera workers save every exposure of one name and frame type as one 3D dataset (with the
            # default frametype: /images/<orientation>/<name>/frame), pages in the order the exposures were taken
            node = datasets[0]
        if isinstance(node, h5py.Dataset):
            if node.ndim == 3:
                self.stack = node.name
                self.frames = [(None, (node.name, plane)) for plane in range(node.shape[0])]
            else:
                self.frames = [(None, (node.name, None))]
        else:
            for item in datasets:
                self.frames.append((item.name.rsplit("/", 1)[-1], (item.name, None)))

    @staticmethod
    def _frame_holders(node) -> list[str]:
        """Groups below ``node`` holding 2D datasets directly, and 3D datasets (each a stack of frames)."""
        import h5py

        found: list[str] = []

        def visit(name, item):
            if isinstance(item, h5py.Dataset):
                holder = item.name if item.ndim == 3 else item.parent.name
                if holder not in found and holder != node.name:
                    found.append(holder)

        node.visititems(visit)
        return found

    def _describe(self) -> str:
        if self.stack is None:
            return super()._describe()
        n = len(self.frames)
        return (f"{n} unnamed frame(s): the pages 0..{n - 1} of the 3D dataset {literal(self.stack)}, one per "
                "exposure in the order they were taken (labscript's camera saves exposures of one name and frame "
                "type together, as with the default frametype 'frame'); name the pages by index, e.g. {frames}: "
                "{{atoms: 0, probe: 1, dark: 2}} in the order your sequence exposes them, or give each exposure its "
                "own frametype in the labscript (camera.expose(t, 'absorption', frametype='atoms'), ...)")

    def _image_groups(self) -> list[str]:
        import h5py

        found: list[str] = []
        images = self._h5.get("/images")
        if isinstance(images, h5py.Group):
            images.visititems(lambda name, item: found.append("/images/" + name)
                              if isinstance(item, h5py.Dataset) else None)
        return found[:12]

    def _lookup_path(self, key: str):
        import h5py

        if key.startswith("/") and isinstance(self._h5.get(key), h5py.Dataset):
            return (key, None)
        return None

    def _shape_dtype(self, locator):
        name, plane = locator
        ds = self._h5[name]
        return (ds.shape[1:] if plane is not None else ds.shape), ds.dtype

    def _read(self, locator) -> np.ndarray:
        name, plane = locator
        ds = self._h5[name]
        return ds[plane] if plane is not None else ds[()]

    def attributes(self) -> dict[str, Any]:
        """The labscript globals: the attributes of ``/globals`` (empty when the group is missing), as Python values
        (a null global, which runmanager stores as a null object reference, as None)."""
        node = self._h5.get("/globals")
        if node is None:
            return {}
        return {str(key): hdf5_value(value) for key, value in node.attrs.items()}

    def file_attributes(self) -> dict[str, Any]:
        """The attributes of the file's root: labscript's ``run time`` (BLACS), ``sequence_id``,
        ``sequence_index``, ``run number``, ``n_runs`` (runmanager), ``run repeat`` (BLACS, repeats only)."""
        return {str(key): hdf5_value(value) for key, value in self._h5.attrs.items()}

    def global_units(self) -> dict[str, str]:
        """The units of the globals from runmanager's groups (``/globals/<group>/units`` attributes; empty units
        left out)."""
        import h5py

        units: dict[str, str] = {}
        node = self._h5.get("/globals")
        if not isinstance(node, h5py.Group):
            return units
        for group in node.values():
            table = group.get("units") if isinstance(group, h5py.Group) else None
            if isinstance(table, h5py.Group):
                for key, value in table.attrs.items():
                    text = hdf5_value(value)
                    if isinstance(text, str) and text.strip():
                        units.setdefault(str(key), text.strip())
        return units

    def close(self) -> None:
        if getattr(self, "_h5", None) is not None:
            self._h5.close()
            self._h5 = None


class _Oqtant(ImageFile):
    """A job result of the Oqtant cloud BEC service (JSON): the images of each input's ``output.values``."""

    format = "oqtant"

    def __init__(self, path: Path) -> None:
        import json

        super().__init__(path)
        try:
            job = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InputDataError(f"{path}: cannot read as Oqtant JSON ({type(exc).__name__}: {exc}); the file may be "
                                 "truncated") from exc
        inputs = job.get("inputs") if isinstance(job, dict) else None
        if not isinstance(inputs, list):
            raise InputDataError(f"{path}: a JSON file but not an Oqtant job result (no 'inputs' list)")
        images = []
        for i, entry in enumerate(inputs):
            values = ((entry or {}).get("output") or {}).get("values") or {}
            for key, image in values.items():
                if isinstance(image, dict) and {"pixels", "rows", "columns"} <= set(image):
                    images.append((key if len(inputs) == 1 else f"{key}/{i}", image))
        if not images:
            raise InputDataError(f"{path}: the Oqtant job holds no image (no output value with pixels, rows and "
                                 "columns); was the job complete?")
        self.frames = [(name, image) for name, image in images]
        self._pixcal = {name: image.get("pixcal") for name, image in images}

    def _shape_dtype(self, locator):
        return (int(locator["rows"]), int(locator["columns"])), np.dtype(np.float64)

    def _read(self, locator) -> np.ndarray:
        rows, cols = int(locator["rows"]), int(locator["columns"])
        pixels = np.asarray(locator["pixels"], dtype=np.float64)
        if pixels.size != rows * cols:
            raise InputDataError(f"{self.path}: the image holds {pixels.size} pixels, not rows x columns = "
                                 f"{rows} x {cols}; the file is truncated or corrupt")
        return pixels.reshape(rows, cols)

    def attributes(self) -> dict[str, Any]:
        """``pixcal`` of each image (the service's pixel calibration, um per pixel in the object plane)."""
        return {f"pixcal/{name}": value for name, value in self._pixcal.items() if value is not None}


def hdf5_value(value: Any) -> Any:
    """An HDF5 attribute as a plain Python value: text for bytes, a number or bool for a numpy scalar, a list for an
    array, None for a null object reference (runmanager's None global)."""
    import h5py

    if isinstance(value, (h5py.Reference, h5py.RegionReference)):
        return None if not value else str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [hdf5_value(v) for v in value.tolist()] if value.dtype == object else value.tolist()
    return value


def open_image(path: str | os.PathLike, *, hdf5_group: str | None = None) -> ImageFile:
    """Open an image file of any supported format (see the module docstring).

    Parameters
    ----------
    path
        The file.
    hdf5_group : str, optional, keyword-only
        For HDF5 files: the group (or 3D dataset) holding the frames, e.g. ``/images/side/absorption``.

    Raises
    ------
    InputDataError
        Missing, empty, truncated or unreadable file, or an unsupported format; the message names the file.
    """
    path = Path(path)
    fmt = detect_format(path)
    try:
        if fmt == "tiff":
            return _Tiff(path)
        if fmt == "fits":
            return _Fits(path)
        if fmt in ("png", "bmp"):
            return _Pillow(path, fmt)
        if fmt == "npz":
            return _Npz(path)
        if fmt == "npy":
            return _Npy(path)
        if fmt == "oqtant":
            return _Oqtant(path)
        return _Hdf5(path, hdf5_group)
    except InputDataError:
        raise
    except Exception as exc:  # the libraries raise many types for corrupt files
        raise InputDataError(f"{path}: cannot read as {fmt.upper()} ({type(exc).__name__}: {exc}); the file may be "
                             "truncated or corrupt") from exc


SETTLE_S = 1.0
"""A file that cannot be read and changed less than this long ago is taken to be still being written."""
POLL_S = 0.2
"""How often a busy file is tried again, in seconds."""


def is_busy(path: Path, exc: InputDataError) -> bool:
    """Whether a file that failed to open is worth waiting for: locked by a writer, or changed just now."""
    if isinstance(exc, FileLockedError):
        return True
    try:
        return time.time() - os.stat(path).st_mtime < SETTLE_S
    except OSError:
        return False


def open_when_ready(path: str | os.PathLike, group: str | None = None, *, wait_s: float = 0.0) -> ImageFile:
    """:func:`open_image`, waiting up to ``wait_s`` seconds for a file that is locked by a
    writer or still being written (changed less than :data:`SETTLE_S` ago), trying again every 0.2 s.

    Raises
    ------
    InputDataError
        The file cannot be read (after the wait, which the message then states).
    """
    path = Path(path)
    start = time.monotonic()
    slept = False
    while True:
        try:
            return open_image(path, hdf5_group=group)
        except InputDataError as exc:
            waited = time.monotonic() - start
            if wait_s <= 0 or waited >= wait_s or not is_busy(path, exc):
                if slept:
                    raise type(exc)(f"{exc.template} (after waiting {waited:.1f} s for it; {{wait_s}} = "
                                    f"{wait_s:g})", cause=exc.cause,
                                    parameters=(*exc.parameters, "wait_s")) from exc
                raise
            time.sleep(min(POLL_S, wait_s - waited))
            slept = True

