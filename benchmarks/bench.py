#!/usr/bin/env python
"""Speed and peak memory of inception-score against torch-fidelity 0.4, same weights, same images.

    python benchmarks/bench.py --device cuda                  # GPU machine: 50,000 / 10,000 images
    python benchmarks/bench.py --device cpu --scale small     # a laptop: a few hundred images

How it measures (read this before the table):

* Data. Images are generated once into ``--data-dir`` (default: a fixed folder in the system temp
  dir, reused by later runs) before anything is timed, with the tests' generator
  (``tests/conftest.py``: coarse random colour layouts plus noise). Cases 1-2 share one set of
  32x32 images; cases 3-5 share one set of 256x256 images, written as PNG, JPEG (quality 90) and
  an ADM ``.npz`` (``np.savez(path, arr)``, so ``arr_0``, uncompressed). The checkpoint is the
  tests' random-weight, calibrated ``build_confident_checkpoint()``: the real layout, so the same
  cost as the real weights, and confident predictions, so the IS is well above 1.
* Isolation. Every row runs in a fresh subprocess (``bench.py --worker ...``): peak RSS is that
  row's alone, and no warm state (CUDA context, cuDNN autotuning, ``torch.compile`` caches)
  passes from one tool to the other. The OS page cache is shared: the generator has just written
  the files, so every tool reads them from memory, not disk.
* Timing. In that subprocess, first one call on the first ``--warmup`` images (column
  ``first call``: weights load, CUDA init, autotuning/compilation, DataLoader start; imports are
  done before it), then the timed call on all N images. ``images/s`` = N / wall time of the
  timed call, from the call to the returned result: it includes that call's (warm) weight
  loading and, for torch-fidelity on ``.npz``, the ``np.load`` it needs. No steady-state
  subtraction: at the GPU scale the fixed costs are small next to the run; at the small CPU
  scale they are not (compare ``first call``). ``--rounds K`` runs the whole list of rows K
  times, round-robin, and keeps each row's fastest round: on shared virtual CPUs, whose speed
  varies by several times from minute to minute, that is the figure least affected by neighbours.
* CPU time. ``CPU s`` is the user + system CPU time of the timed call, of the process and of
  the child processes that ended during it (``getrusage``: torch-fidelity's DataLoader workers,
  which it joins at the end of the call), with the system part in brackets: on a machine
  shared with other jobs it varies much less than the wall time (it still grows a little under
  load: caches, memory bandwidth, and two torch threads that spin waiting for each other).
  ``page faults`` is the minor page faults of the same processes during the call, in
  millions (each one a fresh 4 KiB page: the kernel zeroes it, in the system time).
* Memory. ``peak RSS`` is ``ru_maxrss`` of the worker process (the whole run). ``peak PSS tree``
  is the largest sum, sampled every 0.1 s during the timed call, of the proportional set size
  (``/proc/PID/smaps_rollup``) of the process and all its descendants: that counts DataLoader /
  decode workers, and pages they share with their parent once (their ``ru_maxrss`` would not: a
  forked child starts with its parent's pages, and ``import torch`` alone forks a 575 MiB child).
  ``CUDA peak`` is ``torch.cuda.max_memory_allocated`` during the timed call.
* Scores. Both tools use their default split protocol (torch-fidelity's seeded shuffle, 10
  splits), so on the same images and weights the IS should agree; the table shows the relative
  difference to torch-fidelity (batch 64), and of ``precision="fast"`` to ``"exact"``.

torch-fidelity runs with its defaults (batch 64, its own DataLoader with
``min(4, 2 * cpu_count)`` workers, which ``--num-workers`` cannot change); ``--num-workers`` and
``--batch-size`` apply to inception-score.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
CHECKPOINT_NAME = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's file name
SEED = 2024
CHUNK = 250  # images per generation task


@dataclass(frozen=True)
class Case:
    number: int
    title: str
    kind: str  # "memory" | "folder" | "npz"
    side: int  # images are side x side
    fmt: str  # "png" | "jpg" | "" (arrays)
    full: int  # number of images at --scale full
    small: int  # at --scale small

    def count(self, scale: str, limit: int | None = None) -> int:
        n = self.full if scale == "full" else self.small
        return min(n, limit) if limit else n


CASES = {
    c.number: c
    for c in [
        Case(1, "in-memory uint8 32x32", "memory", 32, "", 50_000, 200),
        Case(2, "folder of 32x32 PNGs", "folder", 32, "png", 50_000, 200),
        Case(3, "folder of 256x256 PNGs", "folder", 256, "png", 10_000, 60),
        Case(4, "folder of 256x256 JPEGs (q90)", "folder", 256, "jpg", 10_000, 60),
        Case(5, "ADM .npz 256x256", "npz", 256, "", 10_000, 60),
    ]
}


# ----------------------------------------------------------------------------------- data


def _images_npy(data_dir: Path, side: int, n: int) -> Path:
    return data_dir / f"images{side}-{n}.npy"


def case_source(case: Case, n: int, data_dir: Path, warmup: int | None = None) -> Path:
    """The file or folder holding case ``case`` with ``n`` images (or its first ``warmup``)."""
    if case.kind == "memory":
        return _images_npy(data_dir, case.side, n)
    suffix = f"-warm{warmup}" if warmup else ""
    if case.kind == "npz":
        return data_dir / f"adm{case.side}-{n}{suffix}.npz"
    return data_dir / f"{case.fmt}{case.side}-{n}{suffix}"


def _generate_chunk(task: tuple[str, int, int, int, list[tuple[str, str]]]) -> None:
    """Generate images [start, stop) of a set, write them into the set's .npy and image folders."""
    npy, side, start, stop, folders = task
    sys.path.insert(0, str(TESTS))
    from PIL import Image

    from conftest import make_images  # the tests' generator

    images = make_images(stop - start, (side, side), seed=SEED + side * 1000 + start // CHUNK)
    array = np.load(npy, mmap_mode="r+")
    array[start:stop] = images
    array.flush()
    del array
    for folder, fmt in folders:
        for i, img in enumerate(images, start):
            path = Path(folder) / f"img_{i:06d}.{fmt}"
            if fmt == "jpg":
                Image.fromarray(img).save(path, quality=90)
            else:
                Image.fromarray(img).save(path)


def _write_atomic_npz(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, array)  # -> arr_0, stored uncompressed (as guided-diffusion's sampler writes it)
    os.replace(tmp, path)


def prepare_data(cases: list[Case], scale: str, limit: int | None, warmup: int, data_dir: Path, log: Any) -> Path:
    """Create (or reuse) the checkpoint and every case's images; return the checkpoint path."""
    import torch

    data_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = data_dir / CHECKPOINT_NAME
    if not checkpoint.exists():
        log(f"building the random-weight checkpoint -> {checkpoint}")
        sys.path.insert(0, str(TESTS))
        from conftest import build_confident_checkpoint

        tmp = checkpoint.with_name(checkpoint.name + ".tmp")
        torch.save(build_confident_checkpoint(), tmp)
        os.replace(tmp, checkpoint)

    # One image set per (side, n); each set written in every format its cases need.
    sets: dict[tuple[int, int], list[Case]] = {}
    for case in cases:
        sets.setdefault((case.side, case.count(scale, limit)), []).append(case)
    for (side, n), members in sets.items():
        npy = _images_npy(data_dir, side, n)
        folders = {case_source(c, n, data_dir): c.fmt for c in members if c.kind == "folder"}
        missing = [f for f in folders if not (f / ".complete").exists()]
        if not npy.exists() or missing:
            log(f"generating {n} images {side}x{side} ({', '.join(['npy'] + [f.name for f in missing])})")
            start_t = time.perf_counter()
            tmp_npy = npy.with_name(npy.name + ".tmp.npy")
            np.lib.format.open_memmap(tmp_npy, mode="w+", dtype=np.uint8, shape=(n, side, side, 3)).flush()
            for f in missing:
                f.mkdir(parents=True, exist_ok=True)
            tasks = [
                (str(tmp_npy), side, s, min(s + CHUNK, n), [(str(f), folders[f]) for f in missing])
                for s in range(0, n, CHUNK)
            ]
            with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
                for _ in pool.imap_unordered(_generate_chunk, tasks):
                    pass
            os.replace(tmp_npy, npy)
            for f in missing:
                (f / ".complete").touch()
            log(f"  done in {time.perf_counter() - start_t:.1f} s")
        for case in members:
            if case.kind == "npz":
                path = case_source(case, n, data_dir)
                if not path.exists():
                    log(f"writing {path.name}")
                    _write_atomic_npz(path, np.load(npy, mmap_mode="r"))
                warm = case_source(case, n, data_dir, warmup)
                if not warm.exists():
                    _write_atomic_npz(warm, np.load(npy, mmap_mode="r")[:warmup])
            elif case.kind == "folder":
                full, warm = case_source(case, n, data_dir), case_source(case, n, data_dir, warmup)
                if not (warm / ".complete").exists():
                    warm.mkdir(exist_ok=True)
                    for name in sorted(p.name for p in full.glob(f"*.{case.fmt}"))[:warmup]:
                        if not (warm / name).exists():
                            os.link(full / name, warm / name)  # hard links: same bytes, no copy
                    (warm / ".complete").touch()
    return checkpoint


# ----------------------------------------------------------------------------------- worker


def _usage() -> tuple[float, float, int]:
    """(user + system CPU s, system CPU s, minor page faults) of this process and its ended children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (
        own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime,
        own.ru_stime + kids.ru_stime,
        own.ru_minflt + kids.ru_minflt,
    )


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _process_tree(root: int) -> list[int]:
    """``root`` and its live descendants (Linux /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += parents.get(pid, [])
    return tree


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class TreeMemory:
    """Peak PSS of this process plus its descendants, sampled by a thread (None off Linux)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak_kib = 0
        self.supported = Path(f"/proc/{os.getpid()}/smaps_rollup").exists()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            total = sum(_pss_kib(pid) for pid in _process_tree(os.getpid()))
            self.peak_kib = max(self.peak_kib, total)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> TreeMemory:
        if self.supported:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.supported:
            self._stop.set()
            self._thread.join()

    @property
    def peak_mib(self) -> float | None:
        return self.peak_kib / 1024 if self.supported else None


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One row: a first call on the warm-up images, then the timed call on all of them."""
    import torch
    from torch.utils.data import Dataset

    warnings.simplefilter("ignore")  # JPEG / lossy-format warnings from both tools
    case = CASES[spec["case"]]
    cuda = spec["device"] == "cuda"
    data_dir = Path(spec["data_dir"])
    n, warmup = spec["n"], spec["warmup"]

    # In-memory case: the same uint8 N x 3 x H x W tensor for both tools, loaded before timing.
    memory = None
    if case.kind == "memory":
        memory = torch.from_numpy(np.load(case_source(case, n, data_dir))).permute(0, 3, 1, 2).contiguous()

    class UInt8Images(Dataset):
        """uint8 N x 3 x H x W (or a permuted N x H x W x 3 view) -> one uint8 3 x H x W tensor per item."""

        def __init__(self, images: torch.Tensor) -> None:
            self.images = images

        def __len__(self) -> int:
            return len(self.images)

        def __getitem__(self, i: int) -> torch.Tensor:
            return self.images[i]

    def source_for(count: int) -> Any:
        if case.kind == "memory":
            return memory[:count]
        return str(case_source(case, n, data_dir, None if count == n else count))

    if spec["tool"] == "ours":
        import inception_score

        options: dict[str, Any] = {
            "weights": spec["checkpoint"],
            "device": spec["device"],
            "progress": False,
            "batch_size": spec["batch_size"],
        }
        if spec["num_workers"] is not None:
            options["num_workers"] = spec["num_workers"]
        if spec["precision"] is not None:
            options["precision"] = spec["precision"]
        if spec["compile"]:
            options["compile"] = True

        def call(count: int) -> float:
            # Each call is timed as a one-shot run (the CLI's case): compute() keeps the network
            # between calls with the same options (a training loop's case), so drop it here, and
            # the timed call loads the weights again, as torch-fidelity's does.
            inception_score.release_network()
            return inception_score.compute(source_for(count), **options).mean

    else:
        import torch_fidelity

        def call(count: int) -> float:
            src = source_for(count)
            if case.kind == "memory":
                src = UInt8Images(src)
            elif case.kind == "npz":
                # torch-fidelity reads no .npz: load arr_0 whole (inside the timed call) into a Dataset.
                with np.load(src) as f:
                    array = f["arr_0"]
                src = UInt8Images(torch.from_numpy(array).permute(0, 3, 1, 2))
            metrics = torch_fidelity.calculate_metrics(
                input1=src,
                isc=True,
                cuda=cuda,
                cache=False,
                verbose=False,
                feature_extractor_weights_path=spec["checkpoint"],
                batch_size=spec["batch_size"],
            )
            return metrics["inception_score_mean"]

    t0 = time.perf_counter()
    call(warmup)
    first_call = time.perf_counter() - t0
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with TreeMemory() as tree:
        usage0 = _usage()
        t0 = time.perf_counter()
        score = call(n)
        elapsed = time.perf_counter() - t0
        usage1 = _usage()
    return {
        "first_call_s": first_call,
        "time_s": elapsed,
        "cpu_s": usage1[0] - usage0[0],
        "sys_s": usage1[1] - usage0[1],
        "minflt": usage1[2] - usage0[2],
        "images_per_s": n / elapsed,
        "is_mean": float(score),
        "rss_mib": _peak_rss_mib(),
        "tree_pss_mib": tree.peak_mib,
        "cuda_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "torch_threads": torch.get_num_threads(),
    }


# ----------------------------------------------------------------------------------- shared CPUs


def _cpu_busy_s() -> float | None:
    """CPU seconds spent busy by all processes on all CPUs since boot (Linux), steal included."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    """CPU seconds of this process and its finished (waited-for) descendants."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


BUSY = 0.1  # other processes using more than this share of the CPUs disturb a row


def _undisturbed(res: dict[str, Any]) -> bool:
    return res.get("foreign_load") is None or res["foreign_load"] < BUSY


def _preference(res: dict[str, Any]) -> tuple[bool, float]:
    return _undisturbed(res), res["images_per_s"]


class ForeignLoad:
    """The share of all CPUs used by other processes (and the hypervisor) while the block ran.

    Busy time from /proc/stat minus the CPU time of this process and its children: on a shared
    machine, a row that ran next to someone's test suite shows it here.
    """

    def __enter__(self) -> ForeignLoad:
        self.fraction: float | None = None
        self._start = (time.perf_counter(), _cpu_busy_s(), _own_cpu_s())
        return self

    def __exit__(self, *exc: object) -> None:
        wall0, busy0, own0 = self._start
        busy1 = _cpu_busy_s()
        if busy0 is None or busy1 is None:
            return
        wall = time.perf_counter() - wall0
        foreign = (busy1 - busy0) - (_own_cpu_s() - own0)
        self.fraction = max(0.0, foreign / (wall * (os.cpu_count() or 1))) if wall > 0 else None


def wait_until_idle(max_wait: float, threshold: float = BUSY, sample: float = 2.0) -> float:
    """Wait (at most ``max_wait`` s) until other processes use < ``threshold`` of the CPUs; the time waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < max_wait:
        with ForeignLoad() as load:
            time.sleep(sample)
        if load.fraction is None or load.fraction < threshold:
            break
    return max(0.0, time.perf_counter() - start - sample)


# ----------------------------------------------------------------------------------- report


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flag_line = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    flags = set(flag_line.group(1).split()) if flag_line else set()
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    if not any(f.startswith("amx") for f in isa):
        isa.append("no AMX")
    return f"{model.group(1).strip() if model else platform.machine()} ({', '.join(isa)})"


def _source() -> str:
    """Where the inception_score the workers import comes from, and its git commit (+ dirty)."""
    import inception_score

    where = Path(inception_score.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no", "."],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    return f"{where}" + (f" (commit {commit}{', modified' if dirty else ''})" if commit else "")


def header(device: str, scale: str, date: str, args: argparse.Namespace) -> list[str]:
    import torch

    name = torch.cuda.get_device_name() if device == "cuda" else _cpu_model()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return [
        f"# inception-score vs torch-fidelity: {device} ({scale} scale), {date}",
        "",
        f"- device: {name}" + (f"; CPU: {_cpu_model()}" if device == "cuda" else ""),
        f"- CPU cores: os.cpu_count() = {os.cpu_count()}, usable (sched_getaffinity) = {affinity}; "
        f"torch threads = {torch.get_num_threads()}",
        f"- torch {torch.__version__}, torch-fidelity {_version('torch-fidelity')}, "
        f"inception-score {_version('inception-score')}, numpy {np.__version__}, Pillow {_version('Pillow')}, "
        f"Python {platform.python_version()}; optional decoders: pyspng {_version('pyspng')}, "
        f"simplejpeg {_version('simplejpeg')}",
        f"- inception-score imported from {_source()}",
        f"- batch size: inception-score {args.batch_size or 'auto'}, torch-fidelity "
        f"{', '.join(str(b) for b in args.theirs_batch_sizes)}; first call on {args.warmup} images; "
        f"inception-score num_workers: {'package default' if args.num_workers is None else args.num_workers}; "
        f"torch-fidelity DataLoader workers: {min(4, 2 * multiprocessing.cpu_count())} (fixed by torch-fidelity)",
        f"- rounds: {args.rounds} (each row run {args.rounds} time(s) in fresh processes, round-robin; the fastest "
        f"undisturbed one is shown); wait for idle CPUs before a row: up to {args.wait_idle:.0f} s; rerun a "
        f"disturbed row: up to {args.retry_busy} time(s); load average at start {args.loadavg_start}",
        "",
    ]


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _rate(value: float) -> str:
    return _fmt(value, ",.1f" if value < 100 else ",.0f")


def table(rows: list[dict[str, Any]]) -> list[str]:
    spread = any(len(r.get("all_rates", [])) > 1 for r in rows)
    cols = [
        "case",
        "tool",
        "variant",
        "N",
        "first call s",
        "time s",
        "CPU s (sys)",
        "page faults (M)",
        "images/s",
        *(["slowest run images/s"] if spread else []),
        "× torch-fidelity",
        "IS",
        "Δ IS vs torch-fidelity",
        "Δ IS fast vs exact",
        "peak RSS MiB",
        "peak PSS tree MiB",
        "other CPU load",
        "CUDA peak MiB",
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for case in sorted({r["case"] for r in rows}):
        group = [r for r in rows if r["case"] == case]
        ref = next((r for r in group if r["tool"] == "torch-fidelity"), None)  # the first batch size given
        ref = ref if ref and "res" in ref else None
        exact = next((r for r in group if r["precision"] == "exact" and "res" in r), None)
        for r in group:
            cells = [f"{case}. {CASES[case].title}", r["tool"], r["variant"], str(r["n"])]
            if "res" not in r:
                cells += [f"failed: {r['error']}"] + [""] * (len(cols) - 5)
                lines.append("| " + " | ".join(cells) + " |")
                continue
            res = r["res"]
            ratio = res["images_per_s"] / ref["res"]["images_per_s"] if ref and r is not ref else None
            d_ref = abs(res["is_mean"] / ref["res"]["is_mean"] - 1) if ref and r is not ref else None
            d_exact = abs(res["is_mean"] / exact["res"]["is_mean"] - 1) if exact and r["precision"] == "fast" else None
            cells += [
                _fmt(res["first_call_s"], ".1f"),
                _fmt(res["time_s"], ".1f"),
                f"{res['cpu_s']:.1f} ({res['sys_s']:.1f})" if "cpu_s" in res else "",
                _fmt(res["minflt"] / 1e6 if "minflt" in res else None, ".2f"),
                _rate(res["images_per_s"]),
                *([_rate(min(r["all_rates"]))] if spread else []),
                _fmt(ratio, ".2f"),
                _fmt(res["is_mean"], ".4f"),
                _fmt(d_ref, ".1e"),
                _fmt(d_exact, ".1e"),
                _fmt(res["rss_mib"], ",.0f"),
                _fmt(res["tree_pss_mib"], ",.0f"),
                _fmt(res.get("foreign_load"), ".0%"),
                _fmt(res["cuda_peak_mib"], ",.0f"),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


# ----------------------------------------------------------------------------------- main


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda if available")
    p.add_argument("--scale", choices=("small", "full"), default=None, help="default: full on cuda, small on cpu")
    p.add_argument("--cases", type=_int_list, default=list(CASES), help="e.g. 1,3 (default: all)")
    p.add_argument("--only", choices=("ours", "theirs"), default=None, help="run one tool only")
    p.add_argument(
        "--batch-size",
        type=lambda t: 0 if t == "auto" else int(t),
        default=None,
        help="inception-score's batch, or auto (its own choice) (default: 500 cuda, 64 cpu)",
    )
    p.add_argument(
        "--theirs-batch-sizes",
        type=_int_list,
        default=None,
        help="torch-fidelity batches, first is the reference (default: 64,500 on cuda, 64 on cpu)",
    )
    p.add_argument("--num-workers", type=int, default=None, help="inception-score's decode workers (default: its own)")
    p.add_argument("--limit", type=int, default=None, help="at most this many images per case (smoke tests)")
    p.add_argument(
        "--warmup", type=int, default=None, help="images in the first call, >= 10 (default: 10 small, 500 full)"
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every row K times, round-robin, each in a fresh process; keep the fastest (default: 1)\n"
        "(runs that other processes disturbed count only when no other run is undisturbed)",
    )
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each row, wait up to SECONDS until other processes use < 10%% of the CPUs (default: 0)",
    )
    p.add_argument(
        "--retry-busy",
        type=int,
        default=0,
        metavar="N",
        help="rerun a row up to N times while other processes used >= 10%% of the CPUs during it (default: 0)",
    )
    p.add_argument(
        "--compile", action="store_true", help="add an inception-score row with precision fast + torch.compile"
    )
    p.add_argument(
        "--precisions",
        type=lambda t: [x.strip() for x in t.split(",") if x.strip()],
        default=["exact", "fast"],
        help="inception-score's rows: exact, fast or both (default: exact,fast)",
    )
    p.add_argument("--out", type=Path, default=None, help="markdown output (default: benchmarks/out/results-...)")
    p.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "inception-score-bench-data")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--result-file", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker is not None:
        return args
    import torch

    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA GPU is available here")
    gpu = args.device == "cuda"
    args.scale = args.scale or ("full" if gpu else "small")
    if args.batch_size is None:
        args.batch_size = 500 if gpu else 64
    args.theirs_batch_sizes = args.theirs_batch_sizes or ([64, 500] if gpu else [64])
    args.warmup = args.warmup or (max([args.batch_size, *args.theirs_batch_sizes]) if args.scale == "full" else 10)
    if args.warmup < 10:
        p.error("--warmup: at least 10 images (both tools score 10 splits)")
    if not args.precisions or set(args.precisions) - {"exact", "fast"}:
        p.error(f"--precisions: exact, fast or both, got {','.join(args.precisions)}")
    bad = [c for c in args.cases if c not in CASES]
    if bad:
        p.error(f"--cases: unknown case(s) {bad}; known: {', '.join(map(str, CASES))}")
    return args


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        result = run_worker(json.loads(args.worker))
        args.result_file.write_text(json.dumps(result))
        return 0

    import torch

    import inception_score

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    fields = {f.name for f in dataclasses.fields(inception_score.Options)}
    has_precision = "precision" in fields
    batch_label = args.batch_size or "auto"
    now = dt.datetime.now()
    date = now.strftime("%Y-%m-%d %H:%M")
    cases = [CASES[c] for c in args.cases]
    for case in cases:
        n = case.count(args.scale, args.limit)
        if args.warmup >= n:
            log(f"error: --warmup {args.warmup} must be below case {case.number}'s {n} images")
            return 2
    args.loadavg_start = _loadavg()
    checkpoint = prepare_data(cases, args.scale, args.limit, args.warmup, args.data_dir, log)

    runs: list[dict[str, Any]] = []
    for case in cases:
        base = {"case": case.number, "n": case.count(args.scale, args.limit)}
        if args.only != "ours":
            for b in args.theirs_batch_sizes:
                variant = f"batch {b}" + (", np.load -> Dataset" if case.kind == "npz" else "")
                runs.append(
                    {**base, "tool": "torch-fidelity", "variant": variant, "batch_size": b, "precision": None,
                     "compile": False}
                )  # fmt: skip
        if args.only != "theirs":
            variants = [(p, False) for p in args.precisions] if has_precision else [(None, False)]
            if args.compile and has_precision and "compile" in fields:
                variants.append(("fast", True))
            for precision, compiled in variants:
                variant = f"{precision or 'default'}{' + compile' if compiled else ''}, batch {batch_label}"
                runs.append(
                    {**base, "tool": "inception-score", "variant": variant, "batch_size": args.batch_size or None,
                     "precision": precision, "compile": compiled}
                )  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        queue = [(run, 0) for run in runs * args.rounds]
        i = 0
        while queue:
            run, retried = queue.pop(0)
            i += 1
            spec = {
                **{k: run[k] for k in ("case", "n", "batch_size", "precision", "compile")},
                "tool": "ours" if run["tool"] == "inception-score" else "theirs",
                "device": args.device,
                "data_dir": str(args.data_dir),
                "checkpoint": str(checkpoint),
                "warmup": args.warmup,
                "num_workers": args.num_workers,
            }
            result_file = Path(tmp) / f"run{i}.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
            cmd += ["--result-file", str(result_file)]
            what = f"case {run['case']} ({run['n']} images): {run['tool']} {run['variant']}"
            log(f"[{i}/{i + len(queue)}] {what}{f' (retry {retried})' if retried else ''} ...")
            if args.wait_idle:
                waited = wait_until_idle(args.wait_idle)
                if waited >= 1:
                    log(f"    waited {waited:.0f} s for other processes to leave the CPUs")
            t0 = time.perf_counter()
            with ForeignLoad() as foreign:
                proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode == 0 and result_file.exists():
                res = json.loads(result_file.read_text())
                res["foreign_load"] = foreign.fraction
                run.setdefault("all_rates", []).append(res["images_per_s"])
                if "res" not in run or _preference(res) > _preference(run["res"]):
                    run["res"] = res  # the fastest undisturbed round, with its own memory figures
                if not _undisturbed(res) and retried < args.retry_busy:
                    queue.insert(0, (run, retried + 1))
                log(f"    {res['images_per_s']:.1f} images/s, IS {res['is_mean']:.4f} "
                    f"({time.perf_counter() - t0:.0f} s with start-up; other processes used "
                    f"{_fmt(foreign.fraction, '.0%')} of the CPUs)")  # fmt: skip
            else:
                lines = (proc.stderr or proc.stdout or f"exit code {proc.returncode}").strip().splitlines()
                run["error"] = lines[-1][:200].replace("|", "/") if lines else f"exit code {proc.returncode}"
                log("    FAILED: " + "\n    ".join(lines[-3:]))

    notes = [
        "",
        "Notes:",
        "- images/s: N / wall time of the timed call (in a fresh process, after a first call on the "
        f"first {args.warmup} images, whose time is `first call s`). × torch-fidelity: images/s over "
        f"torch-fidelity's at batch {args.theirs_batch_sizes[0]} on the same case.",
        "- Δ IS: relative difference of the mean IS, to torch-fidelity (same images, weights and splits) "
        "and, for precision fast, to exact.",
        "- peak RSS: ru_maxrss of the run's process. peak PSS tree: the largest sampled (every 0.1 s, "
        "timed call only) sum of PSS over the process and its DataLoader/decode workers.",
        "- other CPU load: share of all CPUs used by other processes (or stolen by the hypervisor) while "
        "the row's process ran, from /proc/stat minus the row's own CPU time; well above 0% means the "
        "row was slowed by a neighbour.",
    ]
    if 5 in args.cases and args.only != "ours":
        notes.append(
            "- case 5: torch-fidelity reads no .npz; its row loads `arr_0` whole with np.load (inside the "
            "timed call) into a Dataset of uint8 CHW tensors. inception-score reads the .npz itself (memory-mapped)."
        )
    if not has_precision and args.only != "theirs":
        notes.append(
            "- inception-score has no `precision` option in this version: one row at its default, "
            "no fast-vs-exact comparison."
        )
    lines = header(args.device, args.scale, date, args) + table(runs) + notes
    text = "\n".join(lines) + "\n"
    print(text)
    out = args.out
    if out is None:
        name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
        out = HERE / "out" / f"results-{_slug(name)}-{now.strftime('%Y%m%d-%H%M')}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    log(f"written to {out}")
    return 0 if all("res" in r for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
