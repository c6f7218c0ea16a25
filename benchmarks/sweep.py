"""Benchmark: one sweep of N simulated cameras (some dead, some hanging) on this machine.

    .venv/bin/python benchmarks/sweep.py [--cameras 500] [--workers 64] [--timeout 5]
    .venv/bin/python benchmarks/sweep.py --per-kind 50     # CPU per poll of each source kind

Measures seconds per sweep, CPU seconds, peak RSS and the p95 latency of on-demand clicks (the
fast lane) fired during the sweep, and prints them against a baseline measured in the same run:
the same sweep done one camera at a time with OpenCV's default one-open-at-a-time lock behaviour
emulated (a process-wide lock around each capture), which is what a naive poller gets.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lawangjabo.cameras.capture import Grab, grab, resolve_url
from lawangjabo.cameras.poller import Outcome, Poller, Target
from lawangjabo.cameras.simulator import CameraSimulator, SimCamera
from lawangjabo.cameras.snapshots import SnapshotStore


class CountingSink:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.lock = threading.Lock()

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_sweep(
    targets: list[Target],
    capture: object,
    workers: int,
    timeout: float,
    clicks: list[str],
    warm_up: bool = True,
) -> dict[str, float]:
    """Sweep (after a cold first sweep when ``warm_up``) while an operator clicks."""
    with tempfile.TemporaryDirectory() as folder:
        sink = CountingSink()
        poller = Poller(
            targets,
            SnapshotStore(Path(folder)),
            sink,
            capture=capture,  # type: ignore[arg-type]
            timeout_s=timeout,
            workers=workers,
            history_every_s=1e9,
            interval_s=1.0,  # so the second sweep finds every camera due again
        )
        click_latencies: list[float] = []

        def clicker() -> None:
            for camera_id in clicks:
                started = time.monotonic()
                poller.refresh(camera_id).result()
                click_latencies.append(time.monotonic() - started)
                time.sleep(0.1)

        cold = poller.sweep() if warm_up else None  # nothing known about any camera yet
        if cold is not None:
            time.sleep(max(0.0, poller.interval_s - cold.seconds) + 0.05)
        cpu0, t0 = cpu_seconds(), time.monotonic()
        thread = threading.Thread(target=clicker)
        thread.start()
        stats = poller.sweep()  # the next sweep, as the running poller does it
        thread.join()
        elapsed, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
        poller.stop()
    ordered = sorted(click_latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)] if ordered else float("nan")
    return {
        "cold_s": cold.seconds if cold else stats.seconds,
        "sweep_s": stats.seconds,
        "wall_s": elapsed,
        "cpu_s": cpu,
        "ok": stats.ok,
        "failed": stats.failed,
        "click_p95_s": p95,
        "click_median_s": statistics.median(ordered) if ordered else float("nan"),
    }


def _serve(cams: list[SimCamera], conn: Connection) -> None:
    """Child process: the simulator, so its drawing does not count as the poller's CPU."""
    sim = CameraSimulator(cams).start()
    if any(c.protocol == "hls" for c in cams):
        sim.wait_hls_ready()
    # Resolved here: the simulator's accounts are secrets held in this process's memory.
    conn.send({c.id: (resolve_url(url), protocol)
               for c in cams for url, protocol in [sim.stream_for(c.id)]})  # fmt: skip
    conn.recv()
    sim.stop()


KINDS = ("jpeg", "mjpeg", "hikvision", "dahua", "onvif", "hls")


def per_kind(polls: int) -> None:
    """CPU and wall time per poll of each source kind, one camera of each, polled ``polls``
    times in a row in this process (the simulator drawing in another); ratios against the
    plain JPEG snapshot measured in the same run. RTSP from the tests' GStreamer server, when
    it is installed."""
    cams = [SimCamera(f"kind-{k}", k, k) for k in KINDS]  # type: ignore[arg-type]
    parent, child = multiprocessing.get_context("spawn").Pipe()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(cams, child))
    server.start()
    results: dict[str, tuple[float, float, str]] = {}
    try:
        streams = parent.recv()
        sources = {k: streams[f"kind-{k}"] for k in KINDS}
        with tempfile.TemporaryDirectory() as folder:
            try:
                from tests.streams import rtsp_camera

                with rtsp_camera(Path(folder)) as url:
                    results["rtsp"] = _measure(url, "rtsp", polls)
            except BaseException as exc:  # pytest.skip (a BaseException) without GStreamer
                print(f"rtsp: not measured ({type(exc).__name__}: {str(exc)[:80]})")
        for kind, (url, protocol) in sources.items():
            results[kind] = _measure(url, protocol, polls)
    finally:
        parent.send("stop")
        server.join(timeout=30)
    base_cpu = results["jpeg"][0]
    print(f"\nper poll, {polls} polls each, one camera (simulated 640x360; HLS/RTSP: 1 s H.264):")
    for kind, (cpu_ms, wall_ms, size) in sorted(results.items(), key=lambda r: r[1][0]):
        print(f"  {kind:10s} CPU {cpu_ms:7.1f} ms  wall {wall_ms:7.1f} ms  {size:>9s}"
              f"  CPU x{cpu_ms / base_cpu:5.1f} of a plain JPEG")  # fmt: skip


def _measure(url: str, protocol: str, polls: int) -> tuple[float, float, str]:
    grab(url, protocol, 10.0)  # warm: connections, decoder libraries
    cpu, wall = cpu_seconds(), time.perf_counter()
    for _ in range(polls):
        got = grab(url, protocol, 10.0)
    cpu_ms = (cpu_seconds() - cpu) * 1000 / polls
    wall_ms = (time.perf_counter() - wall) * 1000 / polls
    return cpu_ms, wall_ms, f"{got.frame.shape[1]}x{got.frame.shape[0]}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=500)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--dead-share", type=float, default=0.10)
    parser.add_argument("--hang-share", type=float, default=0.04)
    parser.add_argument(
        "--baseline-cameras",
        type=int,
        default=60,
        help="the serial baseline is slow: it runs on a sample this size",
    )
    parser.add_argument(
        "--per-kind", type=int, default=0, metavar="N",
        help="only measure CPU per poll of each source kind (N polls each)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.per_kind:
        per_kind(args.per_kind)
        return
    rng = random.Random(1)
    cams = []
    for i in range(args.cameras):
        roll = rng.random()
        fault = (
            "dead"
            if roll < args.dead_share
            else "hang"
            if roll < args.dead_share + args.hang_share
            else None
        )
        cams.append(SimCamera(f"bench-{i:04d}", f"Bench {i}", "mjpeg" if i % 2 else "jpeg", fault))
    parent, child = multiprocessing.get_context("spawn").Pipe()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(cams, child))
    server.start()
    try:
        streams = parent.recv()
        targets = [Target(c.id, *streams[c.id]) for c in cams]
        healthy = [c.id for c in cams if c.fault is None]
        clicks = rng.sample(healthy, 40)
        dead = sum(c.fault == "dead" for c in cams)
        hang = sum(c.fault == "hang" for c in cams)
        print(
            f"{args.cameras} simulated cameras (MJPEG/JPEG 640x360): {dead} dead, {hang} "
            f"hanging; {args.workers} workers, {args.timeout:.0f} s timeout; "
            f"{os.cpu_count()} cores"
        )
        ours = run_sweep(targets, grab, args.workers, args.timeout, clicks)

        # Baseline: what a naive poller does. One camera at a time, like OpenCV's default
        # per-process open lock makes any thread pool behave; measured on a sample, scaled.
        sample = targets[: args.baseline_cameras]
        lock = threading.Lock()

        def serial(url: str, protocol: str, timeout_s: float) -> Grab:
            with lock:
                return grab(url, protocol, timeout_s)

        sample_ids = {t.camera_id for t in sample}
        base_clicks = [c for c in healthy if c in sample_ids][:5]
        # serial: a sweep costs the sum of its captures whatever the order, so one will do
        base = run_sweep(sample, serial, args.workers, args.timeout, base_clicks, warm_up=False)
        scale = len(targets) / len(sample)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        parent.send("stop")
        server.join(timeout=30)
    base_sweep = base["sweep_s"] * scale
    print(
        f"sweep:      {ours['sweep_s']:7.2f} s   "
        f"({ours['ok']:.0f} ok, {ours['failed']:.0f} failed)"
        f"   target <= 10 s; first (cold) sweep {ours['cold_s']:.2f} s"
    )
    print(
        f"baseline:   {base_sweep:7.2f} s   (serial, {len(sample)} cameras x {scale:.1f})"
        f"   ratio {base_sweep / ours['sweep_s']:.1f}x"
    )
    print(f"CPU:        {ours['cpu_s']:7.2f} s   for the sweep (poller process; simulator apart)")
    print(
        f"click p95:  {ours['click_p95_s'] * 1000:7.0f} ms  (median "
        f"{ours['click_median_s'] * 1000:.0f} ms, {len(clicks)} clicks during the sweep)"
        f"   target <= 500 ms; baseline p95 {base['click_p95_s'] * 1000:.0f} ms"
    )
    print(f"peak RSS:   {peak_mb:7.0f} MB  (the poller process)")


if __name__ == "__main__":
    main()
