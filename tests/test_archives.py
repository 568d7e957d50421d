"""Archives give the same result as the extracted folder, read without extracting."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image

import inception_score
from inception_score.errors import InputError
from inception_score.inputs.archives import ArchiveSource
from inception_score.inputs.files import MAX_IMAGE_BYTES

from .conftest import make_images, write_images


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "images"
    write_images(path, make_images(14, (20, 20), seed=80))
    return path


def pack_tar(folder: Path, target: Path, mode: str = "w", reverse: bool = False, extras: bool = False) -> Path:
    with tarfile.open(target, mode) as tf:
        for path in sorted(folder.iterdir(), reverse=reverse):
            tf.add(path, arcname=f"{path.stem}.png")
            if extras:  # WebDataset: a label beside each image, same key
                data = b"7"
                info = tarfile.TarInfo(f"{path.stem}.cls")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return target


def score(source, stand_in, **kw):
    kw = {"splits": 3, "batch_size": 4, "progress": False, **kw}
    return inception_score.compute(source, network=stand_in, **kw)


def test_tar_zip_and_webdataset_equal_the_folder(folder: Path, tmp_path: Path, stand_in) -> None:
    reference = score(folder, stand_in)
    zipped = tmp_path / "images.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for path in sorted(folder.iterdir(), reverse=True):  # stored order does not matter for zip
            zf.write(path, arcname=f"sub/{path.name}")
    archives = [
        pack_tar(folder, tmp_path / "plain.tar", reverse=True),  # random access: sorted by name anyway
        pack_tar(folder, tmp_path / "packed.tar.gz", "w:gz"),
        pack_tar(folder, tmp_path / "wds-000.tar", extras=True),
        zipped,
    ]
    for archive in archives:
        result = score(archive, stand_in)
        assert result.num_images == 14, archive
        assert result.split_scores == reference.split_scores, archive


def test_archive_members_are_ordered_by_name_like_a_folder_case_and_all(tmp_path: Path, stand_in) -> None:
    """Members sorted by code point (upper case first), as the folder's files: not case-insensitively."""
    names = ["d", "B", "f", "a", "E", "C"]  # by code point B C E a d f; case-insensitively a B C d E f
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name, image in zip(names, make_images(6, (20, 20), seed=81), strict=True):
        Image.fromarray(image).save(folder / f"{name}.png")
    run = {"protocol": "original", "splits": 2}  # file order decides which images share a split
    want = score(folder, stand_in, **run).split_scores
    zipped = tmp_path / "mixed.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for name in names:
            zf.write(folder / f"{name}.png", arcname=f"{name}.png")
    tars = pack_tar(folder, tmp_path / "mixed.tar"), pack_tar(folder, tmp_path / "mixed.tar.gz", "w:gz")
    for archive in (zipped, *tars):
        assert score(archive, stand_in, **run).split_scores == want, archive
    assert [m[0] for m in ArchiveSource(zipped).members] == ["B.png", "C.png", "E.png", "a.png", "d.png", "f.png"]


def test_ranges_of_a_streamed_archive(folder: Path, tmp_path: Path) -> None:
    source = ArchiveSource(pack_tar(folder, tmp_path / "s.tar.gz", "w:gz"))
    assert source.kind == "stream"
    batches = list(source.batches(4, start=5, stop=12))
    assert [b.indices.tolist() for b in batches] == [[5, 6, 7, 8], [9, 10, 11]]
    expected = torch.from_numpy(make_images(14, (20, 20), seed=80)[5:12]).permute(0, 3, 1, 2)
    assert torch.equal(torch.cat([b.images for b in batches]), expected)


def test_glob_of_shards_and_sharded_runs(folder: Path, tmp_path: Path, stand_in) -> None:
    images = sorted(folder.iterdir())
    for k in range(2):
        part = tmp_path / f"part{k}"
        part.mkdir()
        for path in images[k * 7 : (k + 1) * 7]:
            (part / path.name).write_bytes(path.read_bytes())
        pack_tar(part, tmp_path / f"shard-{k:03d}.tar")
    result = score(str(tmp_path / "shard-*.tar"), stand_in)
    assert result.sources == [str(tmp_path / "shard-000.tar"), str(tmp_path / "shard-001.tar")]
    # batches restart at each shard, so float32 logits differ in the last bits
    assert result.split_scores == pytest.approx(score(folder, stand_in).split_scores, rel=1e-9)


def test_archive_errors(folder: Path, tmp_path: Path, stand_in) -> None:
    unsorted = pack_tar(folder, tmp_path / "unsorted.tar.gz", "w:gz", reverse=True)
    with pytest.raises(InputError, match="not stored in name order; re-pack it sorted"):
        score(unsorted, stand_in)
    (tmp_path / "broken.tar").write_bytes(b"not a tar at all" * 40)
    with pytest.raises(InputError, match="broken.tar: not a readable tar archive"):
        score(tmp_path / "broken.tar", stand_in)
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zf:
        zf.writestr("a.png", b"this is not a png")
        zf.writestr("b.png", (folder / "img_00000.png").read_bytes())
    with pytest.raises(InputError, match=r"bad.zip:a.png: not an image Pillow can read"):
        score(tmp_path / "bad.zip", stand_in, splits=1)
    with zipfile.ZipFile(tmp_path / "none.zip", "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(InputError, match="no images in the archive"):
        score(tmp_path / "none.zip", stand_in)


def test_archive_with_worker_processes(folder: Path, tmp_path: Path, stand_in) -> None:
    archive = pack_tar(folder, tmp_path / "w.tar")
    assert score(archive, stand_in, num_workers=2).split_scores == score(folder, stand_in).split_scores


# ---------------------------------------------------------------- decompression bombs and malformed archives


def bomb_png(width: int, height: int, body: bytes = b"\x00" * 64) -> bytes:
    """A valid PNG header announcing width x height pixels, followed by ``body`` compressed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(body)) + chunk(b"IEND", b"")


def zip_of(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def patch_central_directory(path: Path, member: str, offset: int, value: bytes) -> None:
    """Overwrite bytes at ``offset`` within ``member``'s central directory entry (46-byte header)."""
    data = bytearray(path.read_bytes())
    at = next(i for i in _find_all(data, b"PK\x01\x02") if data[i + 46 : i + 46 + len(member)] == member.encode())
    data[at + offset : at + offset + len(value)] = value
    path.write_bytes(bytes(data))


def _find_all(data: bytes | bytearray, pattern: bytes) -> list[int]:
    found, start = [], 0
    while (i := data.find(pattern, start)) >= 0:
        found.append(i)
        start = i + 1
    return found


def error_of(source, stand_in) -> str:
    with pytest.raises(InputError) as err:
        score(source, stand_in, splits=1)
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_member_whose_image_header_declares_too_many_pixels_is_refused_before_it_is_read(
    kind: str, folder: Path, tmp_path: Path, stand_in
) -> None:
    # 40 MB of zeros behind a header declaring 30000 x 30000 pixels: ~40 KB packed
    bomb = bomb_png(30_000, 30_000, body=bytes(40 << 20))
    members = {"a.png": (folder / "img_00000.png").read_bytes(), "b.png": bomb}
    archive = tmp_path / f"bomb.{kind}"
    if kind == "zip":
        zip_of(archive, members)
    else:
        with tarfile.open(archive, "w" if kind == "tar" else "w:gz") as tf:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    assert archive.stat().st_size < 1 << 20
    message = error_of(archive, stand_in)
    assert message == f"{archive}:b.png: refused: more than 178,956,970 pixels (a decompression bomb?)"


def test_zip_member_declaring_more_bytes_than_any_image_is_refused_when_listed(
    folder: Path, tmp_path: Path, stand_in
) -> None:
    archive = zip_of(tmp_path / "lies.zip", {"a.png": (folder / "img_00000.png").read_bytes()}, zipfile.ZIP_STORED)
    patch_central_directory(archive, "a.png", 24, struct.pack("<I", 3_758_096_384))  # 3.5 GiB uncompressed
    assert zipfile.ZipFile(archive).getinfo("a.png").file_size == 3_758_096_384
    assert error_of(archive, stand_in) == (
        f"{archive}:a.png: refused: the archive declares 3,758,096,384 bytes for this member, more than any image "
        f"within the pixel limit takes ({MAX_IMAGE_BYTES:,} bytes; a decompression bomb?)"
    )


def test_tar_member_declaring_more_bytes_than_any_image_is_refused_when_listed(tmp_path: Path, stand_in) -> None:
    for kind in ("tar", "tar.gz"):
        archive = tmp_path / f"huge.{kind}"
        header = tarfile.TarInfo("a.png")
        header.size = 3_758_096_384
        raw = header.tobuf(format=tarfile.GNU_FORMAT) + bytes(1024)  # the header, then no data at all
        archive.write_bytes(gzip.compress(raw) if kind == "tar.gz" else raw)
        assert error_of(archive, stand_in) == (
            f"{archive}:a.png: refused: the archive declares 3,758,096,384 bytes for this member, more than any "
            f"image within the pixel limit takes ({MAX_IMAGE_BYTES:,} bytes; a decompression bomb?)"
        )


def test_member_holding_less_or_more_than_declared(folder: Path, tmp_path: Path, stand_in) -> None:
    png = (folder / "img_00000.png").read_bytes()
    short = zip_of(tmp_path / "short.zip", {"a.png": png}, zipfile.ZIP_STORED)
    patch_central_directory(short, "a.png", 24, struct.pack("<I", len(png) - 100))  # uncompressed size
    patch_central_directory(short, "a.png", 20, struct.pack("<I", len(png) - 100))  # compressed size
    assert "short.zip:a.png: cannot read from the archive (Bad CRC-32 for file 'a.png')" in error_of(short, stand_in)
    long = zip_of(tmp_path / "long.zip", {"a.png": png})
    patch_central_directory(long, "a.png", 24, struct.pack("<I", len(png) + 100))
    assert error_of(long, stand_in).startswith(f"{long}:a.png: ")


MALFORMED = {
    "empty.zip": (lambda png: b"", "not a readable zip archive (File is not a zip file)"),
    "empty.tar": (lambda png: b"", "not a readable tar archive (empty file)"),
    "empty.tar.gz": (lambda png: b"", "not a readable compressed tar archive (empty file)"),
    "cut-directory.zip": (lambda png: _zip_bytes({"a.png": png})[:-30], "not a readable zip archive"),
    "bad-directory.zip": (
        lambda png: _zip_bytes({"a.png": png}).replace(b"PK\x01\x02", b"PK\x01\x09"),
        "not a readable zip archive (Bad magic number for central directory)",
    ),
    "corrupt-member.zip": (
        lambda png: _zip_bytes({"a.png": png}, flip=80),
        "a.png: cannot read from the archive (",
    ),
    "encrypted.zip": (lambda png: _zip_bytes({"a.png": png}, flags=0x1), "a.png: encrypted member"),
    "method-99.zip": (
        lambda png: _zip_bytes({"a.png": png}, method=99),
        "a.png: compression method 99 is not supported; expected stored, deflate, bzip2 or lzma",
    ),
    "duplicate.zip": (
        lambda png: _zip_bytes({"a.png": png, "b.png": png}, rename=("b.png", "a.png")),
        "the member a.png appears more than once; expected unique member names",
    ),
    "beyond-eof.tar": (  # b.png's header is there, its data is not
        lambda png: _tar_bytes({"a.png": png, "b.png": png})[: 1024 + -(-len(png) // 512) * 512 + 10],
        "b.png: the member runs past the end of the archive",
    ),
    "cut-in-member.tar": (
        lambda png: _tar_bytes({"a.png": png, "b.png": png})[:700],
        "a.png: the member runs past the end of the archive",
    ),
    "cut-after-member.tar": (
        lambda png: _tar_bytes({"a.png": png, "b.png": png})[: 512 + len(png) + 20],
        "not a readable tar archive (unexpected end of data)",
    ),
    "cut.tar.gz": (
        lambda png: gzip.compress(_tar_bytes({"a.png": png}))[:-40],
        "not a readable compressed tar archive",
    ),
    "garbage.tar.gz": (lambda png: gzip.compress(b"x" * 3000), "not a readable compressed tar archive"),
}


def _zip_bytes(members: dict[str, bytes], flip: int = 0, flags: int = 0, method: int = 0, rename=None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    data = bytearray(buf.getvalue())
    if flip:
        data[flip] ^= 0xFF  # inside the first member's compressed data
    for at in _find_all(data, b"PK\x01\x02") + _find_all(data, b"PK\x03\x04"):
        central = data[at + 2] == 1
        if flags:
            data[at + (8 if central else 6)] |= flags
        if method:
            struct.pack_into("<H", data, at + (10 if central else 8), method)
    if rename:
        old, new = (n.encode() for n in rename)
        data = bytearray(bytes(data).replace(old, new))
    return bytes(data)


def _tar_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_archives_give_one_line_naming_the_archive(name: str, folder: Path, tmp_path: Path, stand_in) -> None:
    make, expected = MALFORMED[name]
    archive = tmp_path / name
    archive.write_bytes(make((folder / "img_00000.png").read_bytes()))
    message = error_of(archive, stand_in)
    assert message.startswith(f"{archive}") and expected in message, message


def test_member_names_and_library_messages_reach_the_terminal_as_one_line(
    folder: Path, tmp_path: Path, checkpoint_path: Path, capsys, stand_in
) -> None:
    from inception_score.cli import main

    archive = zip_of(
        tmp_path / "names.zip",
        {"a.png": (folder / "img_00000.png").read_bytes(), "evil\n\x1b[2J.png": b"\x89PNG\r\n\x1a\n garbage"},
    )
    with pytest.raises(InputError) as err:
        score(archive, stand_in, splits=1)
    assert str(err.value) == (
        f"{archive}:evil\n\x1b[2J.png: truncated or corrupt image data (Truncated File Read)"
    )  # the name is the user's, as it is; the reason is ours
    code = main([str(archive), "--weights", str(checkpoint_path), "--splits", "1", "--quiet"])
    err_text = capsys.readouterr().err
    assert code == 3 and "\x1b" not in err_text
    assert err_text.splitlines()[-1] == (
        f"inception-score: error: {archive}:evil\\n\\x1b[2J.png: truncated or corrupt image data (Truncated File Read)"
    )
