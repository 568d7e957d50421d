"""Published references by name (--ref adm:imagenet256, edm2:img512, ...): downloaded once from a
loopback server in each layout, verified, read and used; pinned by sha256; refused when unreachable with
the URL and where to put the file; EDM2 pickles read without running code (issue 24)."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import pickle
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import inception_score
from inception_score.cli import main
from inception_score.errors import InputError, OptionsError
from inception_score.inputs.pickles import safe_load
from inception_score.presets import PRESETS
from inception_score.run import published
from inception_score.run.published import REFS, read_edm2_pickle, refs_dir

from .conftest import make_images, write_images

RUN: dict[str, Any] = dict(bootstrap=0, progress=False, splits=2, metrics="fid")


class Server:
    """Files by path on 127.0.0.1, with a count of requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.counts: Counter[str] = Counter()
        files, counts = self.files, self.counts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                counts[self.path] += 1
                body = files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    try:
        yield s
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()
        s.thread.join(timeout=5)


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory, checkpoint_path: Path) -> dict[str, Any]:
    """Samples, and the statistics of a reference folder in each published layout (bytes)."""
    root = tmp_path_factory.mktemp("published")
    write_images(root / "samples", make_images(4, (32, 32), seed=81))
    real = make_images(4, (32, 32), seed=82)
    write_images(root / "real", real)
    stats = root / "real.npz"
    inception_score.compute_statistics(str(root / "real"), str(stats), spatial=True, weights=str(checkpoint_path),
                                       cache=str(root / "cache"), progress=False)  # fmt: skip
    with np.load(stats) as npz:
        mu, sigma, mu_s, sigma_s = (npz[k] for k in ("mu", "sigma", "mu_s", "sigma_s"))

    def npz(**arrays: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    rng = np.random.default_rng(0)
    dino = {"mu": rng.normal(size=16), "sigma": np.eye(16)}
    layouts = {
        "adm": npz(arr_0=real, mu=mu, sigma=sigma, mu_s=mu_s, sigma_s=sigma_s),  # guided-diffusion's batch
        "npz": npz(mu=mu, sigma=sigma),  # EDM fid-refs, clean-fid stats
        "edm2-pickle": pickle.dumps({"num_images": 4, "fid": {"mu": mu, "sigma": sigma}, "fd_dinov2": dino}),
    }
    return {"root": root, "stats": stats, "layouts": layouts, "dino": dino}


def serve(name: str, server: Server, sets: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> bytes:
    """The catalogue entry ``name`` pointed at the loopback server, serving a file of its layout."""
    entry = REFS[name]
    body: bytes = sets["layouts"][entry.format]
    path = "/" + entry.url.split("/", 3)[3]
    server.files[path] = body
    monkeypatch.setitem(REFS, name, dataclasses.replace(entry, url=server.url(path)))
    return body


def ours(sets: dict[str, Any], checkpoint_path: Path, **options: Any) -> inception_score.Result:
    run = {**RUN, "weights": str(checkpoint_path), "cache": str(sets["root"] / "cache"), **options}
    return inception_score.compute(str(sets["root"] / "samples"), **run)  # type: ignore[return-value]


@pytest.mark.parametrize(
    "name", ["adm:imagenet256", "edm:cifar10-32x32", "edm2:img512", "clean-fid:cifar10/train/32/clean"]
)
def test_a_named_reference_downloads_once_is_verified_and_used(name, server, sets, checkpoint_path, monkeypatch):
    body = serve(name, server, sets, monkeypatch)
    expected = ours(sets, checkpoint_path, ref=str(sets["stats"])).fid
    first = ours(sets, checkpoint_path, ref=name)
    second = ours(sets, checkpoint_path, ref=name, ref_sha256=hashlib.sha256(body).hexdigest())
    assert first.fid == pytest.approx(expected, rel=1e-12) and second.fid == first.fid
    assert sum(server.counts.values()) == 1  # downloaded once, then read from the cache
    info = first.fid_reference
    assert info["name"] == name and info["url"] == REFS[name].url and info["preset"] == REFS[name].preset
    assert info["sha256"] == hashlib.sha256(body).hexdigest()
    cached = refs_dir() / REFS[name].filename
    assert cached.read_bytes() == body and str(cached) == info["path"]
    assert not list(cached.parent.glob("*.tmp*")) and not list(cached.parent.glob("*.lock"))


def test_a_pinned_sha256_refuses_another_file(server, sets, checkpoint_path, monkeypatch) -> None:
    name = "edm:cifar10-32x32"
    serve(name, server, sets, monkeypatch)
    wrong = "0" * 64
    with pytest.raises(InputError, match="sha256 .* does not start with the expected prefix 0{64}; the file was"):
        ours(sets, checkpoint_path, ref=name, ref_sha256=wrong)
    assert not (refs_dir() / REFS[name].filename).exists()  # a download that does not match is discarded
    ours(sets, checkpoint_path, ref=name)  # cached now
    with pytest.raises(InputError, match=r"has sha256 [0-9a-f]{64}, not the pinned 0{64} \(--ref-sha256\)"):
        ours(sets, checkpoint_path, ref=name, ref_sha256=wrong)
    with pytest.raises(InputError, match="not the pinned"):  # a plain path is pinned the same way
        ours(sets, checkpoint_path, ref=str(sets["stats"]), ref_sha256=wrong)
    with pytest.raises(OptionsError, match="ref_sha256: got 'abc', expected the 64 hexadecimal digits"):
        ours(sets, checkpoint_path, ref=name, ref_sha256="abc")


def test_offline_the_error_names_the_url_and_where_to_put_the_file(server, sets, checkpoint_path, capsys) -> None:
    name = "adm:imagenet64"  # the server has nothing at this path: 404
    entry = dataclasses.replace(REFS[name], url=server.url("/ref_batches/VIRTUAL_imagenet64_labeled.npz"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(REFS, name, entry)
        args = [str(sets["root"] / "samples"), "--ref", name, "--weights", str(checkpoint_path), "--quiet"]
        assert main(args) == 3
    err = capsys.readouterr().err.strip()
    dest = refs_dir() / entry.filename
    assert err.count("\n") == 0
    assert f"could not download {entry.url} (HTTP 404 Not Found)" in err
    assert f"save it as {dest}" in err and "then run again" in err
    assert not dest.exists()


def test_a_file_saved_by_hand_is_used_without_the_network(sets, checkpoint_path, monkeypatch) -> None:
    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("network used"))
    name = "clean-fid:cifar10/test/32/legacy_tensorflow"
    dest = refs_dir() / REFS[name].filename
    dest.parent.mkdir(parents=True)
    dest.write_bytes(sets["layouts"]["npz"])
    result = ours(sets, checkpoint_path, ref=name, match="clean-fid-legacy")
    assert result.fid_reference["name"] == name and result.fid is not None


def test_a_reference_of_another_preset_is_said(server, sets, checkpoint_path, monkeypatch) -> None:
    serve("edm2:img64", server, sets, monkeypatch)
    result = ours(sets, checkpoint_path, ref="edm2:img64", match="pytorch-fid")
    assert any("goes with --match edm2" in w for w in result.warnings)


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(OptionsError, match="unknown published reference 'edm2:img1024'; known edm2 ones: edm2:img512"):
        published.locate_published("edm2:img1024")


def test_refs_lists_every_reference(capsys) -> None:
    assert main(["refs"]) == 0
    out = capsys.readouterr().out
    for name in ("adm:imagenet256", "edm:cifar10-32x32", "edm2:img512", "clean-fid:cifar10/train/32/clean"):
        assert name in out and REFS[name].url in out
    assert main(["refs", "edm2", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in listing] == ["edm2:img512", "edm2:img64"]
    assert {"url", "format", "holds", "preset", "source", "cached"} <= set(listing[0])
    assert main(["refs", "nope"]) == 2
    assert "refs: unknown family 'nope'" in capsys.readouterr().err


def test_every_entry_cites_its_source_and_uses_https() -> None:
    for entry in REFS.values():
        assert entry.url.startswith("https://") and entry.url.rsplit("/", 1)[-1] in entry.filename
        assert "README.md" in entry.source and entry.format in ("adm", "npz", "edm2-pickle")
        assert entry.preset in PRESETS


# --------------------------------------------------------------------------- the safe unpickler


class Payload:
    """A pickle that runs code when loaded by pickle.load: it writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def test_an_edm2_pickle_with_a_code_payload_never_runs_it(tmp_path, checkpoint_path, sets, capsys) -> None:
    marker = tmp_path / "ran.txt"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"num_images": 4, "fid": {"mu": Payload(marker), "sigma": np.eye(2)}}))
    with pytest.raises(InputError, match="evil.pkl: refused to unpickle builtins.exec"):
        read_edm2_pickle(evil)
    args = [str(sets["root"] / "samples"), "--ref", str(evil), "--weights", str(checkpoint_path), "--quiet",
            "--splits", "2"]  # fmt: skip
    assert main(args) == 3
    assert "refused to unpickle builtins.exec" in capsys.readouterr().err
    assert not marker.exists()
    pickle.loads(evil.read_bytes())  # the same file through pickle.load does run it: the test's payload is real
    assert marker.read_text() == "ran"


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_the_unpickler_reads_numpy_arrays_of_every_protocol(protocol) -> None:
    data = {"num_images": 3, "fid": {"mu": np.arange(3.0), "sigma": np.eye(3, dtype=np.float32)}, "x": [1, "a"]}
    loaded = safe_load(io.BytesIO(pickle.dumps(data, protocol=protocol)), "stats.pkl")
    assert loaded["fid"]["mu"].tolist() == [0.0, 1.0, 2.0] and loaded["fid"]["sigma"].dtype == np.float32
    assert loaded["x"] == [1, "a"] and loaded["num_images"] == 3


def test_the_edm2_reader_keeps_the_dinov2_part(sets, tmp_path) -> None:
    path = tmp_path / "img512.pkl"
    path.write_bytes(sets["layouts"]["edm2-pickle"])
    stats = read_edm2_pickle(path)
    assert stats["num_images"] == 4 and stats["fid"]["mu"].shape == (2048,)
    assert np.array_equal(stats["fd_dinov2"]["mu"], sets["dino"]["mu"])  # for the DINOv2 space (pending wiring)
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps({"fid": {"mu": np.zeros(3), "sigma": np.eye(2)}}))
    with pytest.raises(InputError, match="bad.pkl: fid mu has shape \\(3,\\) and sigma \\(2, 2\\)"):
        read_edm2_pickle(bad)
    bad.write_bytes(b"\x80\x04junk")
    with pytest.raises(InputError, match="bad.pkl: not a readable pickle"):
        read_edm2_pickle(bad)
