"""Profile pictures: turn an upload into a safe, square WebP avatar, and keep it on disk.

``process_avatar`` takes the uploaded bytes (or a stream) and returns the bytes of a new
``size`` x ``size`` WebP image. Nothing of the upload survives but its pixels:

* The format is the one Pillow detects from the content: PNG, JPEG (MPO, the multi-picture
  JPEG some cameras write, counts as JPEG) or WebP. A file name or a claimed content type is
  never asked. Of an animated PNG or WebP only the first frame is used.
* At most ``max_bytes + 1`` bytes are read from a stream, whatever size it claims.
* The width and height in the header are checked against ``max_pixels`` before any pixel is
  decoded (for WebP even before Pillow sees the file: libwebp allocates the whole canvas when it
  opens one). Pillow's own decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``, unchanged)
  stays a ceiling above ``max_pixels``: its warning and its error both become
  ``avatar_too_many_pixels``.
* The whole picture is decoded inside the guard, so a truncated or corrupt file is
  ``avatar_not_an_image``, never a 500.
* The EXIF orientation is applied, then every piece of metadata is dropped (EXIF with its GPS
  position, XMP, comments). An embedded ICC profile is used to convert the colours to sRGB and
  is not kept; a profile that cannot be read is ignored.
* The picture is cropped to its centred square and resized (down or up) with Lanczos, keeping
  an alpha channel only when it has transparent pixels.

All of this happens in memory. It is CPU-bound and blocking: call it with
``asyncio.to_thread``. Pillow is driven one picture at a time per process (a lock, held for
the decoding and encoding only), which also bounds the memory avatars can take to one decoded
picture at a time. Pillow reports odd-but-readable files with warnings; while the lock is held
those warnings are silenced (they would otherwise become errors under ``-W error``) and its
``DecompressionBombWarning`` is raised and refused. ``warnings.catch_warnings`` changes the
process-wide filters, which is why it only ever runs under that lock.

``AvatarStore`` keeps the results in one folder, named by member and content hash, written
atomically (a temporary file renamed into place). Its ids are checked against a strict pattern
before they come anywhere near a path.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, ClassVar

from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:
    from PIL import ImageCms

__all__ = ["AvatarError", "AvatarStore", "process_avatar"]

# Formats an avatar may be uploaded in, as Pillow names the formats it detects.
_ACCEPTED_FORMATS = frozenset({"PNG", "JPEG", "MPO", "WEBP"})
# The plugins tried when opening an upload (MPO files are opened by the JPEG plugin).
_OPEN_FORMATS = ("PNG", "JPEG", "WEBP")
# Modes whose ICC profile is applied (after resizing, on the small picture).
_ICC_MODES = frozenset({"RGB", "RGBA", "L", "CMYK"})
_WEBP_QUALITY = 85
_WEBP_METHOD = 4
_READ_CHUNK = 1024 * 1024

_pillow_lock = threading.Lock()


class AvatarError(Exception):
    """An upload that cannot become an avatar; ``code`` is stable, ``message`` is for people."""

    CODES: ClassVar[frozenset[str]] = frozenset({
        "avatar_too_large", "avatar_not_an_image", "avatar_unsupported_format",
        "avatar_too_many_pixels",
    })

    def __init__(self, code: str, message: str) -> None:
        if code not in self.CODES:
            raise ValueError(f"unknown avatar error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message


def process_avatar(data: IO[bytes] | bytes, *, max_bytes: int = 5 * 1024 * 1024,
                   max_pixels: int = 40_000_000, size: int = 512) -> bytes:
    """Return the WebP bytes of the ``size`` x ``size`` avatar made from an uploaded picture.

    ``data`` is the upload's bytes or a binary stream (read from where it stands). Raises
    ``AvatarError`` for anything that cannot become an avatar.
    """
    if max_bytes < 0 or max_pixels < 1 or not 1 <= size <= 16383:
        raise ValueError("max_bytes must be >= 0, max_pixels >= 1 and size in 1..16383")
    raw = _read_limited(data, max_bytes)
    if not raw:
        raise _not_an_image()
    canvas = _webp_canvas_size(raw)
    if canvas is not None:
        _check_pixels(canvas, max_pixels)
    with _pillow_guard():
        return _convert(raw, max_pixels, size)


def _read_limited(data: IO[bytes] | bytes, max_bytes: int) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        if view.nbytes > max_bytes:
            raise _too_large(max_bytes)
        return data if isinstance(data, bytes) else view.tobytes()
    limit = max_bytes + 1
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = data.read(min(limit - total, _READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > max_bytes:
        raise _too_large(max_bytes)
    return b"".join(chunks)


@contextlib.contextmanager
def _pillow_guard() -> Iterator[None]:
    with _pillow_lock, warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"PIL\.")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _convert(raw: bytes, max_pixels: int, size: int) -> bytes:
    try:
        img = Image.open(io.BytesIO(raw), formats=_OPEN_FORMATS)
    except UnidentifiedImageError:
        raise _unidentified(raw) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(max_pixels) from exc
    except MemoryError:
        raise
    except Exception as exc:  # any failure to parse the header means it is no usable picture
        raise _not_an_image() from exc
    with img:
        if img.format not in _ACCEPTED_FORMATS:  # never happens with _OPEN_FORMATS; be sure
            raise _unsupported(img.format)
        _check_pixels(img.size, max_pixels)
        try:
            # JPEG only: let libjpeg decode at 1/2, 1/4 or 1/8 scale when the result is still
            # at least size x size, which saves most of the work and memory for big photos.
            img.draft(None, (size, size))
            img.load()  # decodes everything now, so damaged files fail here
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_many_pixels(max_pixels) from exc
        except MemoryError:  # the server's trouble, not the picture's
            raise
        except Exception as exc:
            raise _not_an_image() from exc
        upright = _upright(img)
    square, icc = _square(*_normalise(upright), size)
    return _encode(_to_srgb(square, icc))


def _upright(img: Image.Image) -> Image.Image:
    """The picture turned as its EXIF (or XMP) orientation says; as it is when that is unreadable.

    Damaged metadata must not refuse a picture whose pixels are fine.
    """
    try:
        return ImageOps.exif_transpose(img)
    except Exception:
        return img.copy()


def _normalise(img: Image.Image) -> tuple[Image.Image, bytes | None]:
    """The picture in RGB or RGBA, or in L or CMYK when it has an ICC profile to apply later."""
    icc = img.info.get("icc_profile")
    if not isinstance(icc, bytes) or not icc or img.mode not in _ICC_MODES:
        icc = None
    if img.mode == "I" or img.mode.startswith("I;16"):
        # 16-bit greyscale: scale to 8 bits (a plain conversion would clip to white).
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if img.has_transparency_data:
        if img.mode != "RGBA":
            img, icc = img.convert("RGBA"), None
        alpha_min, _ = img.getchannel("A").getextrema()
        if alpha_min == 255:  # an alpha channel without transparent pixels
            img = img.convert("RGB")
    elif img.mode not in ("RGB", "L", "CMYK") or (img.mode != "RGB" and icc is None):
        img = img.convert("RGB")
    return img, icc


def _square(img: Image.Image, icc: bytes | None, size: int) -> tuple[Image.Image, bytes | None]:
    """The centred square of the picture, resized to size x size (RGBA is premultiplied)."""
    width, height = img.size
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    box = (left, top, left + side, top + side)
    return img.resize((size, size), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0), icc


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """The picture in sRGB (RGB or RGBA), using its ICC profile when there is a usable one."""
    if icc is not None:
        alpha = img.getchannel("A") if img.mode == "RGBA" else None
        colour = img.convert("RGB") if alpha is not None else img
        try:
            from PIL import ImageCms

            converted = ImageCms.profileToProfile(
                colour, ImageCms.ImageCmsProfile(io.BytesIO(icc)), _srgb_profile(),
                outputMode="RGB")
        except Exception:  # unreadable profile, or one that does not fit the picture: ignore it
            converted = None
        if converted is not None:
            if alpha is not None:
                converted.putalpha(alpha)
            img = converted
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGB")
    return img


@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _encode(img: Image.Image) -> bytes:
    img.info.clear()  # nothing of the upload's metadata may follow its pixels
    out = io.BytesIO()
    img.save(out, format="WEBP", quality=_WEBP_QUALITY, method=_WEBP_METHOD,
             exif=b"", xmp=b"", icc_profile=b"")
    return out.getvalue()


def _webp_canvas_size(raw: bytes) -> tuple[int, int] | None:
    """Width and height from a WebP file's first chunk header, if it is one (as Pillow reads it)."""
    if len(raw) < 30 or raw[:4] != b"RIFF" or raw[8:12] != b"WEBP":
        return None
    chunk = raw[12:16]
    if chunk == b"VP8X":
        return (int.from_bytes(raw[24:27], "little") + 1,
                int.from_bytes(raw[27:30], "little") + 1)
    if chunk == b"VP8L" and raw[20] == 0x2F:
        bits = int.from_bytes(raw[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and raw[23:26] == b"\x9d\x01\x2a":
        return (int.from_bytes(raw[26:28], "little") & 0x3FFF,
                int.from_bytes(raw[28:30], "little") & 0x3FFF)
    return None


def _check_pixels(dimensions: tuple[int, int], max_pixels: int) -> None:
    width, height = dimensions
    if width < 1 or height < 1:
        raise _not_an_image()
    if width * height > max_pixels:
        raise _too_many_pixels(max_pixels, dimensions)


@functools.cache
def _other_formats() -> tuple[str, ...]:
    """Formats Pillow recognises by a signature, other than the accepted ones."""
    Image.init()
    return tuple(sorted(name for name, (_, accept) in Image.OPEN.items()
                        if accept is not None and name not in _OPEN_FORMATS))


def _unidentified(raw: bytes) -> AvatarError:
    """Refusal of a file that is no PNG, JPEG or WebP: another image format, or no image."""
    try:
        with Image.open(io.BytesIO(raw), formats=_other_formats()) as other:
            return _unsupported(other.format)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return _unsupported(None)  # some other format, recognised and very large
    except Exception:
        return _not_an_image()


def _too_large(max_bytes: int) -> AvatarError:
    return AvatarError("avatar_too_large",
                       f"The picture is too large: it can be at most {_bytes_text(max_bytes)}.")


def _not_an_image() -> AvatarError:
    return AvatarError("avatar_not_an_image",
                       "The file is not a picture that can be read, or it is damaged. "
                       "Please upload a PNG, JPEG or WebP picture.")


def _unsupported(detected: str | None) -> AvatarError:
    what = f"a {detected} picture" if detected else "a picture in a format that is not supported"
    return AvatarError("avatar_unsupported_format",
                       f"The file is {what}. Please upload a PNG, JPEG or WebP picture.")


def _too_many_pixels(max_pixels: int,
                     dimensions: tuple[int, int] | None = None) -> AvatarError:
    what = f"{dimensions[0]} x {dimensions[1]} pixels" if dimensions else "too many pixels"
    return AvatarError("avatar_too_many_pixels",
                       f"The picture has {what}; it can have at most {max_pixels:,} pixels. "
                       "Please upload a smaller picture.")


def _bytes_text(n: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value.is_integer() else f"{value:.1f} {unit}"
    return f"{n} bytes"


# --- storage ---------------------------------------------------------------------------------

_AVATAR_ID = re.compile(r"[1-9][0-9]{0,18}-[0-9a-f]{16}")
_WEBP_MAGIC = re.compile(rb"RIFF....WEBP", re.DOTALL)


class AvatarStore:
    """Avatars as ``<folder>/<member id>-<first 16 hex digits of sha256>.webp``.

    The folder is created (mode 0755) on the first save; files are mode 0644. The methods do
    blocking file I/O: call them with ``asyncio.to_thread`` from async code.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def save(self, member_id: int, webp: bytes) -> str:
        """Store ``webp`` (the output of ``process_avatar``) and return its avatar id."""
        if isinstance(member_id, bool) or not isinstance(member_id, int) or member_id < 1:
            raise ValueError(f"member id must be a positive integer, not {member_id!r}")
        if not _WEBP_MAGIC.match(webp):
            raise ValueError("only WebP bytes made by process_avatar can be stored")
        avatar_id = f"{member_id}-{hashlib.sha256(webp).hexdigest()[:16]}"
        self._make_folder()
        target = self._file(avatar_id)
        if target.is_file():  # the same picture again: already there, complete
            return avatar_id
        fd, temp = tempfile.mkstemp(dir=self.folder, prefix=".upload-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(webp)
                out.flush()
                os.fchmod(out.fileno(), 0o644)
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self._sync_folder()
        return avatar_id

    def path(self, avatar_id: str) -> Path | None:
        """The file of an avatar; None when the id is malformed or the avatar does not exist."""
        if not self.valid_id(avatar_id):
            return None
        target = self._file(avatar_id)
        return target if target.is_file() else None

    def delete(self, avatar_id: str) -> None:
        """Remove an avatar; nothing happens when it is not there (or the id names none)."""
        if not self.valid_id(avatar_id):
            return
        with contextlib.suppress(FileNotFoundError):
            self._file(avatar_id).unlink()

    @staticmethod
    def valid_id(avatar_id: object) -> bool:
        return isinstance(avatar_id, str) and _AVATAR_ID.fullmatch(avatar_id) is not None

    def _file(self, avatar_id: str) -> Path:
        return self.folder / f"{avatar_id}.webp"

    def _make_folder(self) -> None:
        if self.folder.is_dir():
            return
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.folder.mkdir(mode=0o755)
        except FileExistsError:
            return  # made meanwhile by someone else: leave its mode alone
        os.chmod(self.folder, 0o755)  # whatever the umask

    def _sync_folder(self) -> None:
        """Make the rename durable (best effort: not every file system can sync a folder)."""
        with contextlib.suppress(OSError):
            fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
