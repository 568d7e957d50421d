"""Which files are scored, in which order: folders, recursive folders and globs against
torch-fidelity's own listing function, and what list files and patterns do with Windows paths."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest
from PIL import Image
from torch_fidelity.utils import glob_samples_paths

from inception_score.errors import InputError
from inception_score.inputs.files import IMAGE_EXTENSIONS, list_images
from inception_score.inputs.sources import open_source

# Names whose sorted order differs between byte, case-insensitive and natural sorting.
NAMES = ["B.png", "a.png", "_c.png", "10.png", "9.png", "é.png", "Z.png", "e.png", "ä.PNG", "x y.jpeg", "A~.bmp"]


def torch_fidelity_listing(folder: Path, recursive: bool) -> list[str]:
    return glob_samples_paths(str(folder), recursive, ",".join(IMAGE_EXTENSIONS), verbose=False)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """NAMES at the top, again in sub/ and sub/Deeper/, plus files that are not images."""
    root = tmp_path / "tree"
    for folder in (root, root / "sub", root / "sub" / "Deeper", root / "Sub2"):
        folder.mkdir(parents=True)
        for name in NAMES:
            Image.new("RGB", (2, 2)).save(folder / name, format="PNG")
        (folder / "notes.txt").write_text("not an image")
        (folder / "noext").write_bytes(b"")
    (root / "linked").symlink_to(root / "sub")  # a link to a folder: not followed, as os.walk
    (root / "alias.png").symlink_to(root / "a.png")  # a link to a file: its real path is listed
    return root


@pytest.mark.parametrize("recursive", [False, True])
def test_folder_listing_is_torch_fidelitys(tree: Path, recursive: bool) -> None:
    ours = list_images(tree, recursive)
    theirs = torch_fidelity_listing(tree, recursive)
    assert ours == theirs
    assert len(ours) == (len(NAMES) + 1) * (1 if not recursive else 4) - (3 if recursive else 0)
    top = [os.path.basename(p) for p in ours if os.path.dirname(p) == str(tree)]
    assert top == sorted(["a.png", *NAMES])  # code point order: 'A~' 'B' 'Z' '_c' 'a' ... 'é', and 10 before 9


def test_source_of_a_folder_keeps_that_order(tree: Path) -> None:
    with pytest.warns(Warning):  # a JPEG among them
        assert open_source(tree, recursive=True).paths == torch_fidelity_listing(tree, True)


@pytest.mark.parametrize(
    ("pattern", "recursive"),
    [("*", False), ("*.*", False), ("**/*", True), ("**/*.*", True)],
)
def test_glob_matches_the_folder_listing(tree: Path, pattern: str, recursive: bool) -> None:
    source = open_source(str(tree / pattern))
    assert source.paths == torch_fidelity_listing(tree, recursive)


def test_glob_does_not_follow_links_under_double_star_nor_hang_on_loops(tree: Path) -> None:
    (tree / "sub" / "loop").symlink_to(tree)  # glob.glob would walk tree/sub/loop/sub/loop/...
    (tree / "Sub2" / "loop").symlink_to(tree)
    paths = open_source(str(tree / "**" / "*.png")).paths
    assert paths == [p for p in torch_fidelity_listing(tree, True) if p.endswith(".png")]  # case-sensitive, as a shell
    one_level = open_source(str(tree / "*" / "a.png")).paths  # a single wildcard follows links, as a shell
    assert one_level == sorted(os.path.realpath(p) for p in glob.glob(str(tree / "*" / "a.png")))


def test_glob_skips_hidden_names_as_a_shell_while_a_folder_lists_them(tmp_path: Path) -> None:
    for name in ("a.png", ".hidden.png"):
        Image.new("RGB", (2, 2)).save(tmp_path / name)
    assert [os.path.basename(p) for p in list_images(tmp_path, False)] == [".hidden.png", "a.png"]
    assert list_images(tmp_path, False) == torch_fidelity_listing(tmp_path, False)
    assert [os.path.basename(p) for p in open_source(str(tmp_path / "*.png")).paths] == ["a.png"]
    assert [os.path.basename(p) for p in open_source(str(tmp_path / ".*.png")).paths] == [".hidden.png"]


@pytest.mark.skipif(os.sep != "/", reason="POSIX path rules")
def test_list_file_with_windows_paths_is_refused_on_posix(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    for entry, what in [
        (r"C:\data\img.png", "a drive letter"),
        ("D:/data/img.png", "a drive letter"),
        (r"\\server\share\img.png", r"a \\server share"),
        (r"data\img.png", "backslashes"),
    ]:
        listing.write_text(f"# written on Windows\n{entry}\n")
        with pytest.raises(InputError) as err:
            open_source(f"@{listing}")
        assert str(err.value) == (
            f"@{listing}: line 2: no such file {entry}; it looks like a Windows path ({what}), but on this system "
            f"only '/' separates folders and a backslash is part of a file name; write the paths with '/'"
        )


@pytest.mark.skipif(os.sep != "/", reason="POSIX path rules")
def test_a_backslash_is_part_of_a_file_name_on_posix(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    odd = tmp_path / "data\\img.png"  # one file whose name holds a backslash, beside the folder data/
    Image.new("RGB", (2, 2)).save(odd, format="PNG")
    Image.new("RGB", (2, 2)).save(tmp_path / "data" / "img.png")
    listing = tmp_path / "list.txt"
    listing.write_text("data\\img.png\ndata/img.png\n")
    assert open_source(f"@{listing}").paths == [str(odd), str(tmp_path / "data" / "img.png")]
    assert open_source(str(tmp_path / "data\\*.png")).paths == [str(odd)]  # a literal character in a glob
    with pytest.raises(InputError) as err:
        open_source(str(tmp_path / "data\\*.jpg"))
    assert str(err.value).endswith(
        "no image files or archives match this pattern; it looks like a Windows path (backslashes), but on this "
        "system only '/' separates folders and a backslash is part of a file name; write the paths with '/'"
    )
