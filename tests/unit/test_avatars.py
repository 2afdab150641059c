"""ruang.avatars: uploads become square WebP avatars with no metadata, and are stored safely.

Every picture is made with Pillow here; no binary fixture is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import random
import re
import stat
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageCms, ImageFile

from ruang.avatars import AvatarError, AvatarStore, process_avatar

RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (20, 200, 20)


# --- helpers ---------------------------------------------------------------------------------

def encode(img: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **params)
    return out.getvalue()


def decode(webp: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(webp))
    assert img.format == "WEBP"
    img.load()
    return img


def noise(size: tuple[int, int], mode: str = "RGB", seed: int = 7) -> Image.Image:
    """A picture that does not compress to nothing (so truncating it loses pixel data)."""
    bands = len(mode)
    data = random.Random(seed).randbytes(size[0] * size[1] * bands)
    return Image.frombytes(mode, size, data)


def halves(size: tuple[int, int], left: tuple[int, ...], right: tuple[int, ...],
           mode: str = "RGB") -> Image.Image:
    img = Image.new(mode, size, left)
    img.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return img


def close(pixel: Any, expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def riff_chunks(webp: bytes) -> list[bytes]:
    """The top-level chunk names of a WebP file."""
    assert webp[:4] == b"RIFF"
    assert webp[8:12] == b"WEBP"
    assert struct.unpack("<I", webp[4:8])[0] == len(webp) - 8
    names, pos = [], 12
    while pos < len(webp):
        name, length = webp[pos:pos + 4], struct.unpack("<I", webp[pos + 4:pos + 8])[0]
        names.append(name)
        pos += 8 + length + (length & 1)
    return names


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data)))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height; the pixels that follow are a few rows."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 4096, 9)) + png_chunk(b"IEND", b""))


def refused(code: str, data: Any, **limits: Any) -> AvatarError:
    with pytest.raises(AvatarError) as caught:
        process_avatar(data, **limits)
    assert caught.value.code == code
    assert caught.value.message.endswith(".")
    assert str(caught.value) == caught.value.message
    return caught.value


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The sizes of the images Pillow decodes (pixel data, not headers) during a test."""
    seen: list[tuple[int, int]] = []
    original: Callable[[ImageFile.ImageFile], Any] = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> Any:
        seen.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return seen


# --- accepted pictures -----------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "params"), [
    ("PNG", {}),
    ("JPEG", {"quality": 90}),
    ("WEBP", {"quality": 90}),
    ("WEBP", {"lossless": True}),
])
def test_png_jpeg_and_webp_become_square_webp(fmt: str, params: dict[str, Any]) -> None:
    out = process_avatar(encode(Image.new("RGB", (300, 200), GREEN), fmt, **params))
    img = decode(out)
    assert (img.size, img.mode) == ((512, 512), "RGB")
    assert close(img.getpixel((256, 256)), GREEN)
    assert set(riff_chunks(out)) <= {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}


@pytest.mark.parametrize("size", [64, 128, 512, 1000])
def test_the_output_has_the_requested_size(size: int) -> None:
    out = process_avatar(encode(noise((700, 900)), "PNG"), size=size)
    assert decode(out).size == (size, size)


def test_small_pictures_are_scaled_up_to_the_avatar_size() -> None:
    img = decode(process_avatar(encode(Image.new("RGB", (16, 9), BLUE), "PNG")))
    assert img.size == (512, 512)
    assert close(img.getpixel((0, 0)), BLUE)
    assert close(img.getpixel((511, 511)), BLUE)


@pytest.mark.parametrize("size", [(300, 100), (100, 300)])
def test_the_centred_square_is_kept(size: tuple[int, int]) -> None:
    # Red edges, a green middle third: the square from the centre is all green.
    img = Image.new("RGB", size, RED)
    w, h = size
    img.paste(GREEN, (w // 3, 0, w - w // 3, h) if w > h else (0, h // 3, w, h - h // 3))
    out = decode(process_avatar(encode(img, "PNG")))
    for xy in [(2, 2), (509, 2), (2, 509), (509, 509), (256, 256)]:
        assert close(out.getpixel(xy), GREEN), xy


def test_rgba_png_keeps_its_transparency() -> None:
    img = halves((200, 200), (*RED, 255), (*BLUE, 0), mode="RGBA")
    out = process_avatar(encode(img, "PNG"))
    avatar = decode(out)
    assert avatar.mode == "RGBA"
    assert avatar.getpixel((10, 256))[3] == 255
    assert avatar.getpixel((500, 256))[3] == 0
    assert close(avatar.getpixel((10, 256))[:3], RED)
    assert set(riff_chunks(out)) <= {b"VP8X", b"VP8 ", b"VP8L", b"ALPH"}


def test_the_colour_of_transparent_pixels_does_not_bleed_into_the_edge() -> None:
    # Resizing premultiplies alpha: the invisible green must not tint the visible red.
    img = halves((100, 100), (*RED, 255), (0, 255, 0, 0), mode="RGBA")
    avatar = decode(process_avatar(encode(img, "PNG")))
    row = [avatar.getpixel((x, 256)) for x in range(240, 272)]
    edge = [pixel for pixel in row if 32 <= pixel[3] < 255]  # partly transparent
    assert edge
    assert all(g < 60 < r for r, g, _b, _a in edge), edge


def test_an_opaque_alpha_channel_is_dropped() -> None:
    avatar = decode(process_avatar(encode(Image.new("RGBA", (50, 50), (*RED, 255)), "PNG")))
    assert avatar.mode == "RGB"


@pytest.mark.parametrize(("img", "fmt", "mode", "colour"), [
    (Image.new("L", (40, 40), 200), "PNG", "RGB", (200, 200, 200)),
    (Image.new("1", (40, 40), 1), "PNG", "RGB", (255, 255, 255)),
    (Image.new("I;16", (40, 40), 128 * 256), "PNG", "RGB", (128, 128, 128)),
    (Image.new("LA", (40, 40), (90, 128)), "PNG", "RGBA", (90, 90, 90, 128)),
    (Image.new("RGB", (40, 40), RED).quantize(8), "PNG", "RGB", RED),
    (Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG", "RGB", (255, 0, 0)),
    (Image.new("L", (40, 40), 60), "JPEG", "RGB", (60, 60, 60)),
])
def test_other_colour_modes_become_rgb_or_rgba(img: Image.Image, fmt: str, mode: str,
                                               colour: tuple[int, ...]) -> None:
    avatar = decode(process_avatar(encode(img, fmt)))
    assert avatar.mode == mode
    assert close(avatar.getpixel((256, 256)), colour, tolerance=12)


def test_a_palette_picture_with_a_transparent_colour_keeps_it() -> None:
    img = Image.new("P", (60, 60), 0)
    img.putpalette([*RED, *BLUE])
    img.paste(1, (30, 0, 60, 60))
    avatar = decode(process_avatar(encode(img, "PNG", transparency=1)))
    assert avatar.mode == "RGBA"
    assert avatar.getpixel((500, 256))[3] == 0
    assert avatar.getpixel((10, 256))[3] == 255
    assert close(avatar.getpixel((10, 256))[:3], RED)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_only_the_first_frame_of_an_animation_is_used(fmt: str) -> None:
    frames = [Image.new("RGB", (64, 64), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100,
                  loop=0)
    with Image.open(io.BytesIO(data)) as check:
        assert getattr(check, "n_frames", 1) == 3
    avatar = decode(process_avatar(data))
    assert getattr(avatar, "n_frames", 1) == 1
    assert close(avatar.getpixel((256, 256)), RED)


def test_a_multi_picture_jpeg_counts_as_jpeg() -> None:
    frames = [Image.new("RGB", (64, 64), RED), Image.new("RGB", (64, 64), BLUE)]
    data = encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    with Image.open(io.BytesIO(data)) as check:
        assert check.format == "MPO"
    assert close(decode(process_avatar(data)).getpixel((256, 256)), RED)


def test_a_large_jpeg_photo_is_decoded_at_a_reduced_scale(loads: list[tuple[int, int]]) -> None:
    avatar = decode(process_avatar(encode(halves((2400, 1800), RED, BLUE), "JPEG")))
    assert avatar.size == (512, 512)
    assert loads[0] == (1200, 900)  # libjpeg decoded it at half its size


def test_a_bytearray_a_memoryview_and_a_stream_are_read_alike() -> None:
    data = encode(noise((80, 60)), "PNG")
    expected = process_avatar(data)
    assert process_avatar(bytearray(data)) == expected  # type: ignore[arg-type]
    assert process_avatar(memoryview(data)) == expected  # type: ignore[arg-type]
    assert process_avatar(io.BytesIO(data)) == expected


class Trickle(io.RawIOBase):
    """A stream that hands out at most 7 bytes a read, and counts what was read."""

    def __init__(self, data: bytes) -> None:
        self.data, self.given = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(7, len(buffer), len(self.data) - self.given)
        buffer[:n] = self.data[self.given:self.given + n]
        self.given += n
        return n


def test_short_reads_from_a_stream_are_fine() -> None:
    data = encode(noise((40, 40)), "PNG")
    assert decode(process_avatar(Trickle(data))).size == (512, 512)  # type: ignore[arg-type]


def test_the_same_upload_gives_the_same_bytes() -> None:
    data = encode(noise((120, 90)), "JPEG")
    assert process_avatar(data) == process_avatar(data)


# --- metadata --------------------------------------------------------------------------------

def phone_photo(orientation: int) -> bytes:
    """A wide JPEG, red on the left and blue on the right, with EXIF (GPS too) and XMP."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Phone"
    exif[ExifTags.Base.Model] = "Camera 3000"
    exif[ExifTags.Base.DateTime] = "2024:05:06 07:08:09"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "S", ExifTags.GPS.GPSLatitude: (6.0, 10.0, 30.0),
        ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (106.0, 49.0, 10.0),
    }
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
           b'"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
           b'xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Someone"/></rdf:RDF>'
           b"</x:xmpmeta>")
    data = encode(halves((120, 60), RED, BLUE), "JPEG", quality=95, exif=exif, xmp=xmp,
                  comment=b"secret comment")
    with Image.open(io.BytesIO(data)) as check:  # the input really carries all of it
        assert check.getexif()[ExifTags.Base.Orientation] == orientation
        assert check.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert {"exif", "xmp", "comment"} <= set(check.info)
    return data


def assert_no_metadata(webp: bytes) -> None:
    img = decode(webp)
    assert not img.getexif()
    assert not {"exif", "xmp", "icc_profile", "comment"} & set(img.info)
    assert set(riff_chunks(webp)) <= {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}
    if webp[12:16] == b"VP8X":  # only the alpha flag may be set
        assert webp[20] & ~0x10 == 0


def test_exif_orientation_is_applied_and_every_piece_of_metadata_dropped() -> None:
    out = process_avatar(phone_photo(6))
    assert_no_metadata(out)
    img = decode(out)
    # Orientation 6: turn 90 degrees clockwise, so the left (red) half ends up on top.
    assert close(img.getpixel((256, 10)), RED)
    assert close(img.getpixel((256, 500)), BLUE)


@pytest.mark.parametrize(("orientation", "top_left", "bottom_right"), [
    (1, RED, BLUE), (2, BLUE, RED), (3, BLUE, RED), (8, BLUE, RED),
])
def test_other_orientations(orientation: int, top_left: tuple[int, ...],
                            bottom_right: tuple[int, ...]) -> None:
    out = process_avatar(phone_photo(orientation))
    assert_no_metadata(out)
    img = decode(out)
    assert close(img.getpixel((10, 10)), top_left)
    assert close(img.getpixel((500, 500)), bottom_right)


def test_an_icc_profile_is_applied_and_dropped() -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for data in (encode(Image.new("RGB", (50, 50), GREEN), "JPEG", icc_profile=icc),
                 encode(Image.new("RGBA", (50, 50), (*GREEN, 100)), "PNG", icc_profile=icc),
                 encode(Image.new("RGB", (50, 50), GREEN), "WEBP", icc_profile=icc)):
        out = process_avatar(data)
        assert_no_metadata(out)
        pixel = decode(out).getpixel((256, 256))
        assert close(pixel[:3], GREEN, tolerance=12)


def linear_srgb_profile() -> bytes:
    """An ICC v2 profile with the sRGB primaries and a linear (gamma 1.0) tone curve."""

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    linear = b"curv\0\0\0\0" + struct.pack(">I", 0)  # no entries: identity
    desc = b"desc\0\0\0\0" + struct.pack(">I", 7) + b"linear\0" + b"\0" * 78
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
            (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)), (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
            (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
            (b"rTRC", linear), (b"gTRC", linear), (b"bTRC", linear)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (struct.pack(">I", offset + len(body)) + b"\0" * 4 + struct.pack(">I", 0x02100000)
              + b"mntrRGB XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 28
              + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48)
    assert len(header) == 128
    return header + table + body


def test_colours_are_converted_to_srgb_with_the_embedded_profile() -> None:
    # Linear mid grey 128 is sRGB 188: the pixels change, and the profile is not kept.
    icc = linear_srgb_profile()
    grey = Image.new("RGB", (50, 50), (128,) * 3)
    for data, expected in [
        (encode(grey, "JPEG", icc_profile=icc), (188, 188, 188)),
        (encode(grey, "WEBP", icc_profile=icc), (188, 188, 188)),
        (encode(Image.new("RGBA", (50, 50), (128, 128, 128, 200)), "PNG", icc_profile=icc),
         (188, 188, 188, 200)),
    ]:
        out = process_avatar(data)
        assert_no_metadata(out)
        pixel = decode(out).getpixel((256, 256))
        assert len(pixel) == len(expected)
        assert close(pixel, expected, tolerance=6), pixel


def test_an_unreadable_icc_profile_is_ignored() -> None:
    data = encode(Image.new("RGB", (50, 50), GREEN), "PNG", icc_profile=b"not a profile" * 20)
    out = process_avatar(data)
    assert_no_metadata(out)
    assert close(decode(out).getpixel((256, 256)), GREEN, tolerance=12)


def test_damaged_exif_neither_refuses_the_picture_nor_leaks_a_warning() -> None:
    # Orientation 6, then a description whose data lies past the end of the EXIF block:
    # Pillow warns about it (an error under -W error) while it reads the header.
    ifd = (struct.pack("<H", 2) + struct.pack("<HHII", 0x0112, 3, 1, 6)
           + struct.pack("<HHII", 0x010E, 2, 1000, 5000) + struct.pack("<I", 0))
    exif = b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd
    data = encode(halves((120, 60), RED, BLUE), "JPEG", quality=95, exif=exif)
    with pytest.warns(UserWarning, match="Tag data larger than file"):
        Image.open(io.BytesIO(data)).close()
    out = process_avatar(data)
    assert_no_metadata(out)
    assert close(decode(out).getpixel((256, 10)), RED)  # the orientation was still applied


# --- refused pictures ------------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "img"), [
    ("GIF", Image.new("P", (20, 20))),
    ("BMP", Image.new("RGB", (20, 20))),
    ("TIFF", Image.new("RGB", (20, 20))),
    ("ICO", Image.new("RGBA", (32, 32))),
    ("PPM", Image.new("RGB", (20, 20))),
    ("QOI", Image.new("RGB", (20, 20))),
])
def test_other_image_formats_are_unsupported(fmt: str, img: Image.Image) -> None:
    error = refused("avatar_unsupported_format", encode(img, fmt))
    assert fmt in error.message
    assert "PNG, JPEG or WebP" in error.message


def test_a_gif_from_a_stream_is_unsupported_too() -> None:
    error = refused("avatar_unsupported_format", io.BytesIO(encode(Image.new("P", (9, 9)),
                                                                   "GIF")))
    assert "GIF" in error.message


@pytest.mark.parametrize("data", [
    b"",
    random.Random(1).randbytes(5000),
    b"hello, I am a text file\n" * 10,
    b"\x89PNG\r\n\x1a\n" + random.Random(2).randbytes(500),  # a PNG signature, then noise
    b"\xff\xd8\xff" + random.Random(3).randbytes(500),  # a JPEG start, then noise
    b"RIFF\x10\0\0\0WEBPVP8 " + random.Random(4).randbytes(50),
    b"<svg xmlns='http://www.w3.org/2000/svg'/>",
], ids=["empty", "random", "text", "png-noise", "jpeg-noise", "webp-noise", "svg"])
def test_what_is_not_an_image_is_refused(data: bytes) -> None:
    refused("avatar_not_an_image", data)
    refused("avatar_not_an_image", io.BytesIO(data))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_truncated_file_is_not_an_image(fmt: str) -> None:
    data = encode(noise((256, 256)), fmt)
    refused("avatar_not_an_image", data[: len(data) // 2])


def test_a_png_with_a_bad_checksum_is_not_an_image() -> None:
    data = bytearray(encode(noise((64, 64)), "PNG"))
    data[-20] ^= 0xFF  # inside the last IDAT
    refused("avatar_not_an_image", bytes(data))


def test_an_upload_over_max_bytes_is_too_large() -> None:
    data = encode(noise((100, 100)), "PNG")
    assert decode(process_avatar(data, max_bytes=len(data))).size == (512, 512)
    error = refused("avatar_too_large", data, max_bytes=len(data) - 1)
    assert "at most" in error.message
    refused("avatar_too_large", io.BytesIO(data), max_bytes=len(data) - 1)
    assert "5 MB" in refused("avatar_too_large", b"\0" * (5 * 1024 * 1024 + 1)).message


def test_a_stream_is_read_no_further_than_max_bytes_plus_one() -> None:
    stream = io.BytesIO(b"\xff" * (20 * 1024 * 1024))
    refused("avatar_too_large", stream, max_bytes=1000)
    assert stream.tell() == 1001
    trickle = Trickle(b"\0" * 5000)
    refused("avatar_too_large", trickle, max_bytes=100)
    assert trickle.given == 101


@pytest.mark.parametrize(("width", "height", "max_pixels"), [
    (30_000, 30_000, 40_000_000),  # beyond Pillow's own limit: its DecompressionBombError
    (10_000, 10_000, 40_000_000),  # beyond ours, and Pillow's warning threshold
    (10_000, 10_000, 500_000_000),  # within ours, still Pillow's warning: refused too
    (7_000, 7_000, 40_000_000),  # beyond ours only
    (101, 100, 10_100 - 1),  # one pixel too many
])
def test_a_decompression_bomb_is_refused_from_its_header(
        width: int, height: int, max_pixels: int, loads: list[tuple[int, int]]) -> None:
    data = png_claiming(width, height)
    assert len(data) < 200
    limit = Image.MAX_IMAGE_PIXELS
    filters = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may escape as a warning either
        error = refused("avatar_too_many_pixels", data, max_pixels=max_pixels)
    assert f"{max_pixels:,}" in error.message
    assert loads == []  # no pixel was decoded
    assert limit == Image.MAX_IMAGE_PIXELS
    assert warnings.filters == filters


def test_a_picture_at_max_pixels_is_accepted() -> None:
    data = encode(Image.new("RGB", (101, 100), RED), "PNG")
    assert decode(process_avatar(data, max_pixels=101 * 100)).size == (512, 512)


def webp_with_size(kind: str, width: int, height: int) -> bytes:
    """A real WebP (of the kind given) whose header is changed to claim width x height."""
    img = Image.new("RGBA" if kind == "VP8X" else "RGB", (40, 30), (*RED, 100))
    data = bytearray(encode(img, "WEBP", lossless=kind == "VP8L", quality=80))
    assert data[12:16] == kind.ljust(4).encode()
    if kind == "VP8X":
        data[24:30] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    elif kind == "VP8L":
        bits = int.from_bytes(data[21:25], "little") & ~((1 << 28) - 1)
        data[21:25] = (bits | (width - 1) | (height - 1) << 14).to_bytes(4, "little")
    else:
        data[26:30] = width.to_bytes(2, "little") + height.to_bytes(2, "little")
    return bytes(data)


@pytest.mark.parametrize("kind", ["VP8 ", "VP8L", "VP8X"])
def test_a_webp_canvas_is_checked_before_libwebp_allocates_it(
        kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    kind = kind.strip()
    assert webp_with_size(kind, 40, 30) == encode(
        Image.new("RGBA" if kind == "VP8X" else "RGB", (40, 30), (*RED, 100)), "WEBP",
        lossless=kind == "VP8L", quality=80)
    opened: list[object] = []
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a))
    refused("avatar_too_many_pixels", webp_with_size(kind, 16_000, 16_000))
    refused("avatar_too_many_pixels", webp_with_size(kind, 40, 30), max_pixels=40 * 30 - 1)
    assert opened == []
    monkeypatch.undo()
    assert decode(process_avatar(webp_with_size(kind, 40, 30), max_pixels=40 * 30)).size == (
        512, 512)


def test_bad_arguments_are_programming_errors() -> None:
    data = encode(Image.new("RGB", (4, 4)), "PNG")
    for limits in ({"size": 0}, {"size": 20_000}, {"max_pixels": 0}, {"max_bytes": -1}):
        with pytest.raises(ValueError, match="must be"):
            process_avatar(data, **limits)
    with pytest.raises(ValueError, match="unknown avatar error code"):
        AvatarError("avatar_is_ugly", "No.")


async def test_pictures_are_processed_safely_from_many_threads() -> None:
    uploads = [encode(noise((90 + i, 70), seed=i), fmt)
               for i, fmt in enumerate(["PNG", "JPEG", "WEBP"] * 4)]
    bombs = [png_claiming(10_000, 10_000)] * 4
    filters = list(warnings.filters)
    results = await asyncio.gather(
        *(asyncio.to_thread(process_avatar, data) for data in uploads + bombs),
        return_exceptions=True)
    assert [decode(r).size for r in results[:len(uploads)]  # type: ignore[arg-type]
            ] == [(512, 512)] * len(uploads)
    assert [getattr(r, "code", r) for r in results[len(uploads):]] == [
        "avatar_too_many_pixels"] * len(bombs)
    assert warnings.filters == filters


# --- the store -------------------------------------------------------------------------------

def avatar_bytes(colour: tuple[int, int, int] = RED) -> bytes:
    return process_avatar(encode(Image.new("RGB", (20, 20), colour), "PNG"), size=32)


def test_save_path_delete_round_trip(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "avatars"
    store = AvatarStore(folder)
    webp = avatar_bytes()
    avatar_id = store.save(42, webp)
    assert re.fullmatch(r"42-[0-9a-f]{16}", avatar_id)
    path = store.path(avatar_id)
    assert path is not None
    assert path.parent == folder
    assert path.read_bytes() == webp
    assert os.listdir(folder) == [path.name]  # no temporary file is left behind
    store.delete(avatar_id)
    assert store.path(avatar_id) is None
    assert os.listdir(folder) == []
    store.delete(avatar_id)  # already gone: quiet


def test_ids_follow_the_content(tmp_path: Path) -> None:
    store = AvatarStore(tmp_path / "avatars")
    red, blue = avatar_bytes(RED), avatar_bytes(BLUE)
    first = store.save(7, red)
    assert store.save(7, red) == first
    assert store.save(7, blue) != first
    assert store.save(8, red) != first
    assert first.split("-")[1] == store.save(8, red).split("-")[1]
    assert len(os.listdir(tmp_path / "avatars")) == 3


def test_modes_do_not_depend_on_the_umask(tmp_path: Path) -> None:
    folder = tmp_path / "avatars"
    old = os.umask(0o077)
    try:
        path = AvatarStore(folder).path(AvatarStore(folder).save(1, avatar_bytes()))
    finally:
        os.umask(old)
    assert path is not None
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    folder = tmp_path / "avatars"
    folder.mkdir(mode=0o700)
    AvatarStore(folder).save(1, avatar_bytes())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_failed_save_leaves_nothing_behind(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    store = AvatarStore(tmp_path)

    def broken(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        store.save(1, avatar_bytes())
    assert os.listdir(tmp_path) == []


def test_save_refuses_what_it_must_not_store(tmp_path: Path) -> None:
    store = AvatarStore(tmp_path)
    for member_id in (0, -1, True):
        with pytest.raises(ValueError, match="member id"):
            store.save(member_id, avatar_bytes())
    with pytest.raises(ValueError, match="WebP"):
        store.save(1, encode(Image.new("RGB", (4, 4)), "PNG"))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("avatar_id", [
    "", "../etc/passwd", "1-abc/../../x", "/etc/passwd", "..", ".", "1-abc",
    "1-0123456789abcdef/", "1-0123456789abcdef/../1-0123456789abcdef",
    "1-0123456789abcdef.webp", "1-0123456789abcdef\n", " 1-0123456789abcdef",
    "1-0123456789ABCDEF", "1-0123456789abcde", "1-0123456789abcdef0", "0-0123456789abcdef",
    "-1-0123456789abcdef", "01-0123456789abcdef", "1_0123456789abcdef",
    "1-0123456789abcdeg", "1-\uff10123456789abcdef", "12345678901234567890-0123456789abcdef",
    "1-0123456789abcdef\0", ".upload-x.tmp",
])
def test_malformed_ids_name_no_file(tmp_path: Path, avatar_id: str) -> None:
    folder = tmp_path / "avatars"
    store = AvatarStore(folder)
    store.save(1, avatar_bytes())
    # A decoy where a store that trusted the id would look, when that is inside tmp_path.
    decoy = folder / f"{avatar_id}.webp"
    with contextlib.suppress(OSError, ValueError):
        if decoy.resolve().is_relative_to(tmp_path) and decoy.resolve() != folder:
            decoy.resolve().parent.mkdir(parents=True, exist_ok=True)
            decoy.resolve().write_bytes(b"decoy")
    planted = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert store.path(avatar_id) is None
    store.delete(avatar_id)  # quiet, and touches nothing
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == planted


def test_path_of_a_well_formed_id_that_does_not_exist(tmp_path: Path) -> None:
    store = AvatarStore(tmp_path / "never-made")
    assert store.path("1-0123456789abcdef") is None
    store.delete("1-0123456789abcdef")
    assert not (tmp_path / "never-made").exists()
