"""Scale: shards and merge, torchrun ranks on gloo, resume after kill -9; all equal one run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import inception_score
from inception_score import merge_stats
from inception_score.cli import main
from inception_score.errors import InputError, OptionsError
from inception_score.run.checkpoint import load_stats

from .conftest import make_images, run_torchrun, write_images

HERE = Path(__file__).parent
EXACT_KEYS = (
    "inception_score_mean",
    "inception_score_std",
    "split_scores",
    "sharpness",
    "diversity",
    "ci95",
    "is_infinity",
    "num_images",
    "splits",
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scale") / "images"
    write_images(path, make_images(53, (20, 20), seed=61))
    return path


def run(source, stand_in, **options):
    return inception_score.compute(source, network=stand_in, progress=False, splits=5, batch_size=8, **options)


def assert_same(got: dict, want: dict, rel: float = 1e-10) -> None:
    for key in EXACT_KEYS:
        assert got[key] == pytest.approx(want[key], rel=rel), key


def assert_seed_mattered(got: dict, default_seed: dict) -> None:
    """A run with seed 7 is not the run with seed 0: else comparing two runs shows nothing about the seed."""
    assert got["ci95"] != pytest.approx(default_seed["ci95"], rel=1e-6)
    assert got["is_infinity"] != pytest.approx(default_seed["is_infinity"], rel=1e-6)


def test_shards_merge_to_one_run(folder: Path, tmp_path: Path, stand_in) -> None:
    whole = run(folder, stand_in, seed=7).to_dict()
    assert_seed_mattered(whole, run(folder, stand_in).to_dict())
    files = []
    for i in range(3):
        path = tmp_path / f"shard{i}.pt"
        summary = run(folder, stand_in, shard=(i, 3), save_stats=str(path), seed=7)
        # i*N//K snapped up to the batch grid (multiples of 8): every batch as in one run
        assert (summary.start, summary.stop) == [(0, 24), (24, 40), (40, 53)][i]
        files.append(str(path))
    merged = merge_stats(files[::-1]).to_dict()  # any order
    assert_same(merged, whole)
    provenance, _ = load_stats(files[0])
    assert provenance["spec"]["num_images"] == 53 and provenance["spec"]["protocol"] == "torch-fidelity"
    assert provenance["spec"]["seed"] == 7
    # bounded whatever N: mostly the bootstrap sums, 200 replicates x 5 splits x 1008 classes x 8 bytes
    assert os.path.getsize(files[0]) < 200 * 5 * 1008 * 8 + 1_000_000


def test_merge_refuses_bad_sets_of_shards(folder: Path, tmp_path: Path, stand_in) -> None:
    def shard(name: str, spec: tuple[int, int], **options) -> str:
        path = tmp_path / name
        run(folder, stand_in, shard=spec, save_stats=str(path), **options)
        return str(path)

    a, b, c = shard("a.pt", (0, 3)), shard("b.pt", (1, 3)), shard("c.pt", (2, 3))
    half = shard("half.pt", (1, 2))
    other = shard("other.pt", (2, 3), protocol="original")
    reseeded = shard("reseeded.pt", (2, 3), seed=1)  # its bootstrap weights are another draw's
    cases = [
        ([a, b, reseeded], "seed is 1, but .* has 0"),
        ([a, b, b, c], "shards overlap"),
        ([a, c], "shards leave a gap: no shard covers images 24..39"),
        ([a, b], "shards leave a gap: no shard covers images 40..52"),
        ([a, b, half], "shards overlap"),
        ([a, b, other], "protocol is 'original', but"),
    ]
    for files, message in cases:
        with pytest.raises(InputError, match=message):
            merge_stats(files)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(InputError, match="not an inception-score statistics file"):
        merge_stats([a, str(tmp_path / "junk.pt")])


def test_shard_needs_save_stats() -> None:
    with pytest.raises(OptionsError, match="needs --save-stats"):
        inception_score.Options(shard=(0, 2))
    with pytest.raises(OptionsError, match=r"expected \(i, K\) with 0 <= i < K"):
        inception_score.Options(shard=(2, 2), save_stats="x")
    with pytest.raises(OptionsError, match=r"shard: got '0/2', expected a pair \(i, K\)"):
        inception_score.Options(shard="0/2", save_stats="x")  # the API takes typed values


def test_merge_on_the_command_line(folder: Path, tmp_path: Path, stand_in, capsys) -> None:
    files = [str(tmp_path / f"s{i}.pt") for i in range(2)]
    for i, path in enumerate(files):
        run(folder, stand_in, shard=(i, 2), save_stats=path)
    assert main(["merge", *files, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert_same(payload, run(folder, stand_in).to_dict())
    assert main(["merge", files[0]]) == 3
    assert "shards leave a gap" in capsys.readouterr().err


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent / "src")}


TORCHRUN_RUN = ["splits=5", "batch_size=8", "seed=7"]


@pytest.fixture(scope="module")
def single_process(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The torchrun tests' reference: one process, with the same thread count (matmul results depend on it)."""
    single = tmp_path_factory.mktemp("single") / "single.json"
    alone = subprocess.run(
        [sys.executable, str(HERE / "standin_run.py"), str(single), str(folder), *TORCHRUN_RUN],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert alone.returncode == 0, alone.stderr[-2000:]
    return json.loads(single.read_text())


def test_torchrun_on_gloo_equals_one_process(folder: Path, tmp_path: Path, stand_in, single_process) -> None:
    # 3 ranks: 53 images do not divide evenly (2 ranks run the real network in test_comparisons and
    # test_same_fields; each launch costs a few seconds of Python and torch starts)
    out = tmp_path / "result.json"
    done = run_torchrun([str(HERE / "standin_run.py"), str(out), str(folder), *TORCHRUN_RUN], ranks=3, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    # every rank draws the bootstrap weights and subsets of seed 7, as one process does
    assert_same(json.loads(out.read_text()), single_process)
    assert_seed_mattered(single_process, run(folder, stand_in).to_dict())


def test_kill_dash_nine_then_resume_gives_the_identical_result(folder: Path, tmp_path: Path) -> None:
    state, out = tmp_path / "run.state", tmp_path / "resumed.json"
    command = [
        sys.executable,
        str(HERE / "standin_run.py"),
        str(out),
        str(folder),
        "splits=5",
        "batch_size=4",
        f"state={str(state)!r}",
        "state_interval=0",
        "slow=0.15",
    ]
    victim = subprocess.Popen(command, env=subprocess_env(), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if state.exists() and 8 <= load_stats(state)[0]["next"] < 53:
            break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL and not out.exists()
    done_before = load_stats(state)[0]["next"]
    assert 0 < done_before < 53

    resumed = subprocess.run(
        [*command[:-1], "slow=0"], env=subprocess_env(), capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming from {state}: {done_before} images already scored" in resumed.stderr
    fresh_out = tmp_path / "fresh.json"
    fresh = subprocess.run(
        [sys.executable, str(HERE / "standin_run.py"), str(fresh_out), str(folder), "splits=5", "batch_size=4"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    got, want = json.loads(out.read_text()), json.loads(fresh_out.read_text())
    for key in EXACT_KEYS:
        assert got[key] == want[key], key  # identical, not just close
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temporaries


def test_resume_refuses_a_state_file_of_another_command(folder: Path, tmp_path: Path, stand_in) -> None:
    state = tmp_path / "s.pt"
    run(folder, stand_in, state=str(state))
    with pytest.raises(InputError, match="protocol is 'torch-fidelity', but this command has 'original'; resume with"):
        run(folder, stand_in, state=str(state), protocol="original")
    assert torch.load(state, weights_only=True)["provenance"]["next"] == 53


def test_merge_and_resume_refuse_files_of_other_images(folder: Path, tmp_path: Path, stand_in) -> None:
    """Shards and state files record what they scored (names and sizes; for --state also modification
    times): a shard of another folder, or a state file of changed images, is never added in silently."""
    other = tmp_path / "other"
    write_images(other, make_images(53, (20, 20), seed=62))  # same names, same count: other pixels
    for p in sorted(other.iterdir())[:3]:
        p.write_bytes(p.read_bytes() + b"\0" * 7)  # PNG ignores bytes after IEND; the sizes differ
    a, b = str(tmp_path / "a.pt"), str(tmp_path / "b.pt")
    run(folder, stand_in, shard=(0, 2), save_stats=a)
    run(other, stand_in, shard=(1, 2), save_stats=b)
    with pytest.raises(InputError, match=r"b\.pt: scored other images .* than .*a\.pt; shards must come"):
        merge_stats([a, b])

    state = tmp_path / "s.pt"
    run(folder, stand_in, state=str(state))
    with pytest.raises(InputError, match="scored other images"):
        run(other, stand_in, state=str(state))
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in sorted(folder.iterdir()):
        (copy / p.name).write_bytes(p.read_bytes())
    state2 = tmp_path / "s2.pt"
    run(copy, stand_in, state=str(state2))
    victim = sorted(copy.iterdir())[5]
    os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 10**9))  # rewritten in place
    with pytest.raises(InputError, match="same files changed since"):
        run(copy, stand_in, state=str(state2))
    assert run(folder, stand_in, state=str(state)).num_images == 53  # the same images resume


def test_merge_names_what_a_wrong_file_is_in_plain_words(tmp_path: Path) -> None:
    import numpy as np

    npz, text, torn = tmp_path / "ref.npz", tmp_path / "notes.txt", tmp_path / "torn.pt"
    np.savez(npz, mu=np.zeros(3), sigma=np.eye(3))
    text.write_text("hello")
    torch.save({"a": torch.zeros(1000)}, torn)
    torn.write_bytes(torn.read_bytes()[:1500])
    for path, what in ((npz, "a numpy .npz: a reference for --ref"), (text, "not a torch file"), (torn, "truncated")):
        with pytest.raises(InputError) as info:
            merge_stats([str(path)])
        message = str(info.value)
        assert message.startswith(f"{path}: not an inception-score statistics file (") and what in message, message
        assert "expected a .pt file written with --save-stats or --state" in message
        assert "weights_only" not in message and "enforce" not in message and "\n" not in message
