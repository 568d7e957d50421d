"""Tests of inception_score.features.weights: resolution, download, caching and safe loading.

Nothing here touches the internet: downloads come from a loopback HTTP server
serving small fake checkpoints, and tests that must not download at all replace
``urllib.request.urlopen`` with a function that fails the test.
"""

from __future__ import annotations

import collections
import hashlib
import http.server
import io
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import pytest
import torch

from inception_score.cli import main
from inception_score.errors import WeightsError
from inception_score.features.network import InceptionV3
from inception_score.features.weights import (
    ENV_VAR,
    INCEPTION_2015,
    ResolvedWeights,
    WeightsSpec,
    download,
    fallback_dir,
    hub_checkpoint_dir,
    load_state_dict,
    locate_weights,
    sha256_file,
)

from .conftest import make_images, write_images

# --------------------------------------------------------------------------- helpers


def checkpoint_bytes(**tensors: torch.Tensor) -> bytes:
    """Bytes of ``torch.save(tensors)``, a small fake checkpoint."""
    buf = io.BytesIO()
    torch.save(tensors or {"a": torch.zeros(3)}, buf)
    return buf.getvalue()


GOOD = checkpoint_bytes(a=torch.zeros(3))
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()
GOOD_PREFIX = GOOD_SHA[:8]
OTHER = checkpoint_bytes(b=torch.ones(2))
# A prefix that GOOD's digest does not start with.
WRONG_PREFIX = ("1" if GOOD_PREFIX[0] == "0" else "0") + GOOD_PREFIX[1:]


@dataclass
class Route:
    body: bytes
    mode: str = "ok"  # "ok" | "truncate" | "stall" (half the body, then silence for 2 s)
    delay: float = 0.0  # seconds slept between chunks when serving


@dataclass
class LoopbackServer:
    port: int = 0
    routes: dict[str, Route] = field(default_factory=dict)
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, body: bytes, mode: str = "ok", delay: float = 0.0) -> str:
        self.routes[path] = Route(body, mode, delay)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def make_handler(state: LoopbackServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                state.counts[self.path] += 1
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404, "Not Found")
                return
            body = route.body
            if route.mode == "truncate":
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) + 1000))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if route.mode == "stall":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                time.sleep(2.0)
                return
            step = max(1, len(body) // 8) if route.delay else len(body)
            for start in range(0, len(body), step):
                self.wfile.write(body[start : start + step])
                self.wfile.flush()
                if route.delay:
                    time.sleep(route.delay)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    state = LoopbackServer()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TORCH_HOME and the temporary directory inside tmp_path; no env override."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv(ENV_VAR, raising=False)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp_path


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Replace urlopen; any call is recorded (and fails the download)."""
    calls: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise AssertionError("network access attempted")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return calls


def spec_for(*urls: str, prefix: str = GOOD_PREFIX) -> WeightsSpec:
    names = tuple(f"fake-{i}-{prefix}.pth" for i in range(len(urls)))
    return WeightsSpec("fake", names, tuple(urls), prefix, "tests", "CC0")


def located(*args: object, **kwargs: object) -> Path:
    """The path :func:`locate_weights` finds."""
    return locate_weights(*args, **kwargs).path  # type: ignore[arg-type]


def write(path: Path, data: bytes = GOOD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# --------------------------------------------------------------------------- data


def test_inception_2015_spec() -> None:
    spec = INCEPTION_2015
    assert spec.sha256_prefix == "6726825d"
    assert spec.filenames == (
        "weights-inception-2015-12-05-6726825d.pth",
        "pt_inception-2015-12-05-6726825d.pth",
    )
    assert "torch-fidelity" in spec.urls[0] and "pytorch-fid" in spec.urls[1]
    for url, filename in zip(spec.urls, spec.filenames, strict=True):
        assert url.startswith("https://") and url.endswith("/" + filename)
    assert "Apache" in spec.license and "2015-12-05" in spec.origin


def test_spec_validates_lengths_and_names() -> None:
    with pytest.raises(ValueError, match="one file name per URL"):
        WeightsSpec("x", ("a.pth",), ("http://h/a", "http://h/b"), "ab", "o", "l")
    with pytest.raises(ValueError, match="bare"):
        WeightsSpec("x", ("d/a.pth",), ("http://h/a",), "ab", "o", "l")
    with pytest.raises(ValueError, match="hexadecimal"):
        WeightsSpec("x", ("a.pth",), ("http://h/a",), "XYZ", "o", "l")


def test_import_is_cheap() -> None:
    code = "import sys, inception_score.features.weights; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_hub_checkpoint_dir_honours_torch_home(isolated: Path) -> None:
    assert hub_checkpoint_dir() == isolated / "torch-home" / "hub" / "checkpoints"


def test_sha256_file(tmp_path: Path) -> None:
    path = write(tmp_path / "f.bin", b"x" * (3 * 1024 * 1024 + 7))
    expected = hashlib.sha256(b"x" * (3 * 1024 * 1024 + 7)).hexdigest()
    assert sha256_file(path) == expected
    assert sha256_file(str(path)) == expected


# --------------------------------------------------------------------------- download


def test_download_then_cache(server: LoopbackServer) -> None:
    spec = spec_for(server.add("/good.pth", GOOD))
    path = located(spec=spec, progress=False)
    assert path == hub_checkpoint_dir() / spec.filenames[0]
    assert path.read_bytes() == GOOD
    assert listing(path.parent) == [spec.filenames[0]]
    assert server.total == 1

    again = locate_weights(spec=spec, progress=False)
    assert again == ResolvedWeights(path, GOOD_SHA, "cache")
    assert server.total == 1  # the cache was used, the server not contacted
    assert load_state_dict(path)["a"].shape == (3,)


def test_locate_reports_download(server: LoopbackServer) -> None:
    spec = spec_for(server.add("/good.pth", GOOD))
    found = locate_weights(spec=spec, progress=False)
    assert found.source == "download"
    assert found.sha256 == GOOD_SHA


def test_download_with_progress_bar(server: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "new" / "dir" / "w.pth"
    url = server.add("/good.pth", GOOD)
    assert download(url, dest, GOOD_PREFIX, progress=True) == dest
    assert dest.read_bytes() == GOOD
    assert capsys.readouterr().out == ""  # the bar goes to stderr only


def test_download_without_prefix(server: LoopbackServer, tmp_path: Path) -> None:
    dest = tmp_path / "w.pth"
    assert download(server.add("/x", OTHER), dest, None, progress=False) == dest
    assert dest.read_bytes() == OTHER


def test_wrong_hash_is_refused(server: LoopbackServer, tmp_path: Path) -> None:
    url = server.add("/good.pth", GOOD)
    dest = tmp_path / "cache" / "w.pth"
    with pytest.raises(WeightsError) as info:
        download(url, dest, WRONG_PREFIX, progress=False)
    message = str(info.value)
    assert WRONG_PREFIX in message and GOOD_SHA in message and url in message
    assert "\n" not in message
    assert listing(dest.parent) == []  # no dest, no .part, no .lock


def test_wrong_hash_through_resolve(server: LoopbackServer) -> None:
    spec = spec_for(server.add("/good.pth", GOOD), prefix=WRONG_PREFIX)
    with pytest.raises(WeightsError, match=WRONG_PREFIX):
        located(spec=spec, progress=False)
    assert listing(hub_checkpoint_dir()) == []


def test_interrupted_transfer_leaves_nothing(server: LoopbackServer, tmp_path: Path) -> None:
    url = server.add("/cut.pth", GOOD, mode="truncate")
    dest = tmp_path / "cache" / "w.pth"
    with pytest.raises(WeightsError) as info:
        download(url, dest, GOOD_PREFIX, progress=False)
    assert url in str(info.value)
    assert listing(dest.parent) == []
    # Without a hash to check, the short read alone must be detected.
    with pytest.raises(WeightsError, match="connection closed after"):
        download(url, dest, None, progress=False)
    assert listing(dest.parent) == []


def test_keyboard_interrupt_cleans_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Response:
        def __init__(self) -> None:
            self.headers = {"Content-Length": "100"}
            self.reads = 0

        def __enter__(self) -> Self:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def read(self, size: int) -> bytes:
            self.reads += 1
            if self.reads > 1:
                raise KeyboardInterrupt
            return b"x" * 10

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Response())
    dest = tmp_path / "cache" / "w.pth"
    with pytest.raises(KeyboardInterrupt):
        download("http://127.0.0.1:9/w.pth", dest, GOOD_PREFIX, progress=False)
    assert listing(dest.parent) == []


def test_a_stalled_server_times_out(server: LoopbackServer, tmp_path: Path) -> None:
    # torch.hub.download_url_to_file has no timeout: a stalled mirror would hang for ever.
    url = server.add("/stall.pth", GOOD, mode="stall")
    dest = tmp_path / "cache" / "w.pth"
    start = time.monotonic()
    with pytest.raises(WeightsError) as info:
        download(url, dest, GOOD_PREFIX, progress=False, timeout=0.3)
    assert time.monotonic() - start < 1.5
    message = str(info.value)
    assert url in message and "timed out" in message and "\n" not in message
    assert listing(dest.parent) == []


def test_404_falls_through_to_second_url(server: LoopbackServer) -> None:
    spec = spec_for(server.url("/missing.pth"), server.add("/good.pth", GOOD))
    path = located(spec=spec, progress=False)
    assert path == hub_checkpoint_dir() / spec.filenames[1]
    assert listing(path.parent) == [spec.filenames[1]]
    assert server.counts["/missing.pth"] == 1 and server.counts["/good.pth"] == 1


def test_all_urls_failing(server: LoopbackServer) -> None:
    first, second = server.url("/a.pth"), server.add("/b.pth", GOOD, mode="truncate")
    spec = spec_for(first, second)
    with pytest.raises(WeightsError) as info:
        located(spec=spec, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert first in message and second in message and "404" in message
    assert str(hub_checkpoint_dir() / spec.filenames[0]) in message
    assert "--weights" in message and ENV_VAR in message
    assert listing(hub_checkpoint_dir()) == []


def test_existing_valid_dest_is_not_downloaded_again(server: LoopbackServer, tmp_path: Path) -> None:
    url = server.add("/good.pth", GOOD)
    dest = write(tmp_path / "w.pth")
    assert download(url, dest, GOOD_PREFIX, progress=False) == dest
    assert server.total == 0


def test_existing_invalid_dest_is_replaced(server: LoopbackServer, tmp_path: Path) -> None:
    url = server.add("/good.pth", GOOD)
    dest = write(tmp_path / "w.pth", b"truncated junk")
    assert download(url, dest, GOOD_PREFIX, progress=False) == dest
    assert dest.read_bytes() == GOOD and server.total == 1


def test_unwritable_cache_falls_back_to_temp_dir(
    server: LoopbackServer, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A directory "under" a regular file cannot be created, even by root.
    blocker = write(isolated / "blocker", b"not a directory")
    monkeypatch.setenv("TORCH_HOME", str(blocker / "sub"))
    spec = spec_for(server.add("/good.pth", GOOD))
    with pytest.warns(UserWarning, match="Cannot write to") as record:
        path = located(spec=spec, progress=False)
    assert str(fallback_dir()) in str(record[0].message)
    assert path == fallback_dir() / spec.filenames[0]
    assert path.is_relative_to(isolated / "tmp")
    assert path.read_bytes() == GOOD
    assert listing(path.parent) == [spec.filenames[0]]

    # The fallback copy is found next time, without a download or a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert locate_weights(spec=spec, progress=False).source == "cache"
    assert server.total == 1


def test_fallback_copy_with_wrong_hash_is_not_trusted(
    server: LoopbackServer, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = write(isolated / "blocker", b"not a directory")
    monkeypatch.setenv("TORCH_HOME", str(blocker / "sub"))
    spec = spec_for(server.add("/good.pth", GOOD))
    planted = write(fallback_dir() / spec.filenames[0], OTHER)
    with pytest.warns(UserWarning):
        path = located(spec=spec, progress=False)
    assert path == planted and path.read_bytes() == GOOD and server.total == 1


def test_nothing_writable(server: LoopbackServer, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = write(isolated / "blocker", b"not a directory")
    monkeypatch.setattr(tempfile, "tempdir", str(blocker))
    url = server.add("/good.pth", GOOD)
    with pytest.raises(WeightsError, match="cannot write to"):
        download(url, blocker / "sub" / "w.pth", GOOD_PREFIX, progress=False)
    assert server.total == 0


# --------------------------------------------------------------------------- concurrency

_CHILD = """
import sys
from pathlib import Path
url, dest, prefix = sys.argv[1:]
from inception_score.features.weights import download
print(download(url, Path(dest), prefix, progress=False))
"""


def test_concurrent_downloads_in_processes(server: LoopbackServer, tmp_path: Path) -> None:
    url = server.add("/slow.pth", GOOD, delay=0.05)  # ~0.4 s, so the two overlap
    dest = tmp_path / "cache" / "w.pth"
    args = [sys.executable, "-c", _CHILD, url, str(dest), GOOD_PREFIX]
    children = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [child.communicate(timeout=30) for child in children]
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
        assert out.strip() == str(dest)
    assert sha256_file(dest) == GOOD_SHA
    assert listing(dest.parent) == ["w.pth"]
    assert server.total == 1  # the second waited for the lock, then reused the file


def test_concurrent_downloads_in_threads(server: LoopbackServer, tmp_path: Path) -> None:
    url = server.add("/slow.pth", GOOD, delay=0.02)
    dest = tmp_path / "cache" / "w.pth"
    results: list[object] = []

    def worker() -> None:
        try:
            results.append(download(url, dest, GOOD_PREFIX, progress=False))
        except BaseException as exc:  # noqa: BLE001 - reported below
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [dest, dest, dest]
    assert sha256_file(dest) == GOOD_SHA
    assert listing(dest.parent) == ["w.pth"]
    assert server.total == 1


# --------------------------------------------------------------------------- resolution order


def test_resolution_order(isolated: Path, no_network: list[object]) -> None:
    spec = spec_for("http://127.0.0.1:9/never.pth")
    explicit = write(isolated / "explicit.pth", GOOD)
    from_env = write(isolated / "env.pth", OTHER)
    cached = write(hub_checkpoint_dir() / spec.filenames[0], GOOD)
    env = {ENV_VAR: str(from_env)}

    assert located(explicit, spec, progress=False, env=env) == explicit
    assert located(str(explicit), spec, progress=False, env=env) == explicit
    assert located(None, spec, progress=False, env=env) == from_env
    assert located(None, spec, progress=False, env={}) == cached
    assert located(None, spec, progress=False, env={ENV_VAR: ""}) == cached
    assert [
        locate_weights(e, spec, progress=False, env=v).source for e, v in [(explicit, env), (None, env), (None, {})]
    ] == ["argument", "environment", "cache"]
    assert no_network == []


def test_env_var_from_os_environ(isolated: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[object]) -> None:
    from_env = write(isolated / "env.pth", OTHER)  # not hash-checked
    monkeypatch.setenv(ENV_VAR, str(from_env))
    found = locate_weights(progress=False)
    assert found == ResolvedWeights(from_env, hashlib.sha256(OTHER).hexdigest(), "environment")


def test_explicit_missing_path(isolated: Path, no_network: list[object]) -> None:
    missing = isolated / "nope" / "w.pth"
    with pytest.raises(WeightsError) as info:
        located(missing, progress=False)
    assert str(missing) in str(info.value) and "does not exist" in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(WeightsError, match="not a file"):
        located(isolated, progress=False)
    assert no_network == []


def test_env_var_pointing_nowhere(isolated: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[object]) -> None:
    missing = isolated / "nowhere.pth"
    write(hub_checkpoint_dir() / INCEPTION_2015.filenames[0])  # env still wins
    monkeypatch.setenv(ENV_VAR, str(missing))
    with pytest.raises(WeightsError) as info:
        located(progress=False)
    assert ENV_VAR in str(info.value) and str(missing) in str(info.value)
    with pytest.raises(WeightsError, match=ENV_VAR):
        located(progress=False, env={ENV_VAR: str(missing)})
    assert no_network == []


@pytest.mark.parametrize("index", [0, 1])
def test_either_published_name_in_cache(index: int, no_network: list[object]) -> None:
    cached = write(hub_checkpoint_dir() / INCEPTION_2015.filenames[index])
    assert located(progress=False, env={}) == cached
    assert no_network == []


# --------------------------------------------------------------------------- loading


class Custom:
    """A class torch.load(weights_only=True) must refuse."""

    def __init__(self) -> None:
        self.value = 1


class OpenPayload:
    """Unpickling this creates ``marker`` (it calls ``open(marker, "w")``)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


def test_load_good_file(tmp_path: Path) -> None:
    state = load_state_dict(write(tmp_path / "w.pth", GOOD))
    assert type(state) is dict
    assert list(state) == ["a"] and torch.equal(state["a"], torch.zeros(3))


def test_load_strips_module_prefix_and_unwraps(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    torch.save({"state_dict": {"module.a": torch.ones(1), "module.b": torch.ones(2)}}, path)
    assert sorted(load_state_dict(path)) == ["a", "b"]
    torch.save({"module.a": torch.ones(1), "b": torch.ones(2)}, path)  # not all prefixed
    assert sorted(load_state_dict(path)) == ["b", "module.a"]


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_load_refuses_code(tmp_path: Path, how: str) -> None:
    # The payload is live: unpickling it without restrictions creates the marker.
    live = tmp_path / "live-marker"
    pickle.loads(pickle.dumps(OpenPayload(str(live)))).close()
    assert live.exists()

    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    payload = {"a": torch.zeros(1), "evil": OpenPayload(str(marker))}
    if how == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(WeightsError) as info:
        load_state_dict(path)
    assert not marker.exists()
    message = str(info.value)
    assert str(path) in message and "state dict" in message and "\n" not in message


def test_load_refuses_custom_class(tmp_path: Path) -> None:
    path = tmp_path / "custom.pth"
    torch.save(Custom(), path)
    with pytest.raises(WeightsError, match="custom.pth"):
        load_state_dict(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.pth", b""),
        ("text.pth", b"these are not the weights you are looking for\n"),
        ("zip.pth", b"PK\x03\x04 a broken zip archive"),
        ("pickle.pth", b"\x80\x02 a broken pickle"),
    ],
)
def test_load_refuses_non_checkpoints(tmp_path: Path, name: str, content: bytes) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(WeightsError) as info:
        load_state_dict(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert "weights-inception-2015-12-05-6726825d.pth" in message


@pytest.mark.parametrize(
    "obj",
    [
        torch.zeros(3),
        [torch.zeros(3)],
        {},
        {"a": 1},
        {1: torch.zeros(1)},
    ],
    ids=["tensor", "list", "empty", "non-tensor-value", "non-str-key"],
)
def test_load_refuses_other_shapes(tmp_path: Path, obj: object) -> None:
    path = tmp_path / "w.pth"
    torch.save(obj, path)
    with pytest.raises(WeightsError, match="expected a PyTorch state dict"):
        load_state_dict(path)


def test_load_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="does not exist"):
        load_state_dict(tmp_path / "missing.pth")
    with pytest.raises(WeightsError, match="not a file"):
        load_state_dict(tmp_path)


def test_sha256_file_notices_a_file_rewritten_in_place(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    path.write_bytes(b"a" * 100)
    assert sha256_file(path) == hashlib.sha256(b"a" * 100).hexdigest()
    path.write_bytes(b"b" * 100)  # same inode, same size
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert sha256_file(path) == hashlib.sha256(b"b" * 100).hexdigest()


@pytest.mark.parametrize(
    "bad",
    [
        torch.tensor([0.5, float("nan")]),
        torch.tensor([float("inf"), 1.0], dtype=torch.float16),
        torch.tensor([[-float("inf")]], dtype=torch.float64),
    ],
    ids=["nan", "inf-half", "minus-inf-double"],
)
def test_load_refuses_non_finite_tensors(tmp_path: Path, bad: torch.Tensor) -> None:
    path = tmp_path / "w.pth"
    torch.save({"module.conv.weight": torch.zeros(2), "module.fc.weight": bad}, path)
    with pytest.raises(WeightsError) as info:
        load_state_dict(path)
    message = str(info.value)
    assert message.startswith(f"Cannot load Inception weights {path}: tensor module.fc.weight holds NaN or inf (1 of ")
    assert "expected finite numbers" in message and "\n" not in message


def test_load_accepts_finite_and_integer_tensors(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    big = torch.finfo(torch.float16).max
    torch.save({"a": torch.tensor([big, -big], dtype=torch.float16), "n": torch.tensor(7)}, path)
    state = load_state_dict(path)
    assert state["a"].dtype == torch.float16 and int(state["n"]) == 7


@pytest.fixture(scope="module")
def nan_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real layout, one NaN in fc.weight: loaded unchecked, every score would be NaN."""
    state = InceptionV3().state_dict()
    state["fc.weight"][3, 5] = float("nan")
    path = tmp_path_factory.mktemp("nan") / "weights-nan.pth"
    torch.save(state, path)
    return path


def test_network_with_nan_weights_is_refused(nan_checkpoint: Path) -> None:
    with pytest.raises(WeightsError, match=r"tensor fc\.weight holds NaN or inf \(1 of 2064384 values\)"):
        InceptionV3().load_checkpoint(load_state_dict(nan_checkpoint))


def test_cli_with_nan_weights_exits_4(nan_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "images"
    write_images(folder, make_images(4))
    code = main([str(folder), "--weights", str(nan_checkpoint), "--splits", "1"])
    out, err = capsys.readouterr()
    assert code == 4 and out == ""
    assert err.count("\n") == 1
    assert str(nan_checkpoint) in err and "tensor fc.weight holds NaN or inf" in err


def test_a_cache_file_found_by_name_with_another_hash_is_named_in_a_warning(server: LoopbackServer) -> None:
    """The hub cache is trusted by file name (torch-fidelity and pytorch-fid put the file there); a
    file of that name with other bytes still scores, with a warning that names it."""
    from inception_score.errors import recording

    spec = spec_for(server.add("/good.pth", GOOD))
    good = hub_checkpoint_dir() / spec.filenames[0]
    with recording() as recorded:
        locate_weights(spec=spec, progress=False)  # the download is hash-checked
        locate_weights(spec=spec, progress=False)  # from the cache, the right hash
    assert recorded == []
    good.write_bytes(GOOD + b"\0")
    with recording() as recorded:
        found = locate_weights(spec=spec, progress=False)
    assert found.source == "cache" and len(recorded) == 1
    assert str(good) in recorded[0] and "not comparable with published numbers" in recorded[0]
