"""Exit codes of a real process: the installed ``inception-score`` script and ``python -m inception_score``.

The other command-line tests call ``main()`` in the test's process, which says nothing about what
a shell or a job scheduler sees: a ``__main__`` that drops ``main()``'s return value, or an entry
point that swallows it, exits 0 on every error. Here each case runs as a subprocess: a missing
folder (3), a malformed flag (2), no weights and no way to download them (4), ``merge`` of a junk
file (3), and success (0, one JSON object on stdout). Both entry points run the same ``main()`` and
differ only in how its return value becomes the exit status, which one error and the success show:
the console script runs those two, ``python -m`` every case (each run costs a Python start and a torch
import, ~2 s on a 2-core CPU).
An error is exactly one line on stderr and nothing on stdout. (Option values refused by
:class:`~inception_score.options.Options`, exit 2, take the same path out of ``main()`` as a
missing folder; tests/test_cli.py checks their messages and codes in-process.)

No test reaches the internet: the weights case runs with an empty ``TORCH_HOME`` and every proxy
variable pointing at port 9 of this machine (nothing listens there), so each download is refused
at once, and the test checks that urllib takes that proxy for the download URLs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from inception_score.features.weights import INCEPTION_2015

from .conftest import make_images, write_images

HERE = Path(__file__).parent
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy")

# The console script pip installed next to this interpreter (bin/inception-score, or
# Scripts\inception-score.exe on Windows), not whichever one PATH finds first.
CONSOLE_SCRIPT = shutil.which("inception-score", path=str(Path(sys.executable).parent))
ENTRY_POINTS = {
    "console-script": [CONSOLE_SCRIPT or str(Path(sys.executable).parent / "inception-score")],
    "python-m": [sys.executable, "-m", "inception_score"],
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exit-codes") / "samples"
    write_images(path, make_images(2, (24, 24), seed=90))
    return path


@pytest.fixture
def offline_env(tmp_path: Path) -> dict[str, str]:
    """No weights anywhere, no way to download them, and the package of this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("INCEPTION_SCORE_WEIGHTS", "NO_PROXY", "no_proxy")}
    env.update({name: DEAD_PROXY for name in PROXY_VARIABLES})
    (tmp_path / "torch-home").mkdir()
    env.update(TORCH_HOME=str(tmp_path / "torch-home"), PYTHONPATH=str(HERE.parent / "src"), OMP_NUM_THREADS="1")
    return env


def test_downloads_in_these_tests_go_to_the_dead_proxy(offline_env: dict[str, str], monkeypatch) -> None:
    for name in (*PROXY_VARIABLES, "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in offline_env.items():
        if "proxy" in name.lower():
            monkeypatch.setenv(name, value)
    assert urllib.request.getproxies()["https"] == DEAD_PROXY
    for url in INCEPTION_2015.urls:
        assert url.startswith("https://") and not urllib.request.proxy_bypass(url.split("/")[2])


def run(entry: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [*ENTRY_POINTS[entry], *map(str, args)]
    if not Path(command[0]).is_file():
        pytest.fail(
            f"{command[0]} is missing: install the package (pip install -e .) so that the console script exists"
        )
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int, expected: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert done.stdout == ""
    assert done.stderr.startswith("inception-score: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_errors_exit_with_their_code_and_one_line(entry: str, folder: Path, tmp_path: Path, offline_env) -> None:
    missing = tmp_path / "missing"
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a statistics file")
    cases = [
        ([missing], 3, f"{missing}: no such file or folder"),
        ([folder, "--splits", "x"], 2, "argument --splits: invalid int value: 'x'"),
        (["merge", junk], 3, "not an inception-score statistics file"),
    ]
    for args, code, expected in cases if entry == "python-m" else cases[:1]:  # the module docstring
        assert_one_line_error(run(entry, args, offline_env), code, expected)


def test_missing_weights_exit_4_without_reaching_the_internet(folder: Path, offline_env) -> None:
    done = run("python-m", [folder, "--splits", "1", "--quiet"], offline_env)
    assert_one_line_error(done, 4, INCEPTION_2015.urls[0])
    assert "refused" in done.stderr  # port 9 refused it (Errno 111, 61; WinError 10061): nothing left this machine
    assert not [p for p in Path(offline_env["TORCH_HOME"]).rglob("*") if p.is_file()]  # nothing half-written


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_success_exits_0_with_one_json_object(entry: str, folder: Path, checkpoint_path: Path, offline_env) -> None:
    env = {**offline_env, "INCEPTION_SCORE_WEIGHTS": str(checkpoint_path)}
    done = run(entry, [folder, "--splits", "1", "--bootstrap", "0", "--json", "--quiet"], env)
    assert done.returncode == 0, done.stderr[-2000:]
    payload = json.loads(done.stdout)  # the whole of stdout is one JSON object
    assert isinstance(payload, dict) and payload["num_images"] == 2 and payload["splits"] == 1
    assert payload["weights_source"] == "environment" and payload["inception_score_mean"] >= 1.0
    assert all(line.startswith("inception-score: warning: ") for line in done.stderr.splitlines()), done.stderr
