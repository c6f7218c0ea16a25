"""Live video, measured: the relay's cost and sharing, and what an operator waits for.

    .venv/bin/python benchmarks/live.py [--seconds 20] [--trials 10] [--no-browser]

Relay (in this process, the simulator's H.264 over HLS, 640×360 at 5 fps, keyframe every 1 s):

- CPU of one relayed stream (the relay thread's own CPU time, from /proc) as % of a core, against
  a baseline measured in the same run: decoding the same stream (the least a transcoding relay
  would do) — the ratio says what remuxing saves;
- ten viewers of one camera: upstream connections and playlist fetches per second, against one
  viewer's (1.0 means they share it).

Browser (the app as a user runs it, headless Chromium, SwiftShader): pressing "Live" in a
camera's card → the stored picture as the poster; → the first live frame (cold: the upstream
closed between trials; and warm: a second viewer joining); the delay shown after 3 s. p50/p95
and ratios against the targets (issue 23) go to ``test-artifacts/live-timings.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.browser import p95  # noqa: E402
from lawangjabo.cameras.live import LiveHub, Piece  # noqa: E402
from lawangjabo.cameras.simulator import CameraSimulator, SimCamera  # noqa: E402
from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e import opsmap  # noqa: E402
from tests.e2e.conftest import signed_in_page, start_server, stop, wait_for_first_round  # noqa: E402

RESULTS = ARTIFACTS / "live-timings.json"
TARGETS = {"poster_ms": 150, "first_frame_ms": 1000, "relay_cpu_pct": 3.0}
HLS_CAMERAS = ("plg-cam2-bkb", "plg-cam9-masjid-agung")  # H.264 in the demo (palembang.toml)


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 1) if values else None,
        "p95": round(p95(values), 1) if values else None,
    }


def cpu_pct(seconds: float) -> float:
    """This process's CPU (every thread, FFmpeg's own included) over ``seconds``, % of a core."""
    before = time.process_time()
    time.sleep(seconds)
    return 100 * (time.process_time() - before) / seconds


def relay_cpu(sim: CameraSimulator, camera: str, seconds: float) -> float:
    hub = LiveHub(sim.stream_for, linger_s=1)
    try:
        hub.join(camera, lambda piece: None)
        time.sleep(2)  # opened, live
        return cpu_pct(seconds)
    finally:
        hub.stop()


def decode_cpu(sim: CameraSimulator, camera: str, seconds: float) -> float:
    """The baseline: every frame of the same stream decoded (the least a transcoder does)."""
    import av

    done = threading.Event()

    def run() -> None:
        url, _ = sim.stream_for(camera)
        options = {"live_start_index": "-1", "probesize": "32768", "analyzeduration": "0"}
        with av.open(url, options=options, timeout=(5, 5)) as source:
            for _frame in source.decode(video=0):
                if done.is_set():
                    break

    worker = threading.Thread(target=run)
    worker.start()
    try:
        time.sleep(2)
        return cpu_pct(seconds)
    finally:
        done.set()
        worker.join(30)


def sharing(sim: CameraSimulator, camera: str, viewers: int, seconds: float) -> dict[str, Any]:
    hub = LiveHub(sim.stream_for, linger_s=1)
    got: list[int] = [0] * viewers

    def viewer(n: int) -> Any:
        def take(piece: Piece) -> None:
            if piece.kind == "media":
                got[n] += 1

        return take

    try:
        for n in range(viewers):
            hub.join(camera, viewer(n))
        time.sleep(2)
        before = sim.playlist_requests[camera]
        time.sleep(seconds)
        fetches = (sim.playlist_requests[camera] - before) / seconds
        channel = hub._channels[camera]
        return {
            "viewers": viewers,
            "upstreams": hub.status()["upstreams"],
            "upstreams_opened": channel.upstreams_opened,
            "playlist_fetches_per_s": round(fetches, 2),
            "fragments_per_viewer_min": min(got),
        }
    finally:
        hub.stop()


def relay(seconds: float) -> dict[str, Any]:
    cams = [SimCamera("bench-hls", "Bench HLS", "hls"), SimCamera("bench-hls-2", "B2", "hls")]
    sim = CameraSimulator(cams).start()
    try:
        sim.wait_hls_ready(30)
        idle = cpu_pct(seconds)  # the simulator drawing and feeding its cameras: subtracted
        remux = relay_cpu(sim, "bench-hls", seconds) - idle
        decode = decode_cpu(sim, "bench-hls", seconds) - idle
        one = sharing(sim, "bench-hls", 1, seconds / 2)
        ten = sharing(sim, "bench-hls", 10, seconds / 2)
    finally:
        sim.stop()
    return {
        "idle_cpu_pct_subtracted": round(idle, 2),
        "relay_cpu_pct": round(remux, 2),
        "decode_cpu_pct_baseline": round(decode, 2),
        "relay_vs_decode": round(remux / decode, 3) if decode else None,
        "one_viewer": one,
        "ten_viewers": ten,
        "ten_vs_one_fetches": round(
            ten["playlist_fetches_per_s"] / max(0.01, one["playlist_fetches_per_s"]), 2
        ),
    }


PLAYER = """() => { const p = window.lawangjaboMap.player;
    return p && p.live ? {poster: p.timings.poster_ms ?? null, first: p.timings.first_frame_ms,
                          mode: p.mode} : null; }"""


def browser_trials(trials: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    state = Path(tempfile.mkdtemp(prefix="lj-bench-live-"))
    # linger 0: each trial opens the camera afresh (cold), the honest first-frame figure
    process, server = start_server(state, state / "server.log", LAWANGJABO_LIVE__LINGER_S="0",
                                   LAWANGJABO_CAMERAS__INTERVAL_S="5")  # fmt: skip
    cold_poster, cold_first, warm_first, delays = [], [], [], []
    try:
        wait_for_first_round(server, 90)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = signed_in_page(browser, server)
            opsmap.open_map(page, f"{server.url}/")
            for n in range(trials):
                camera = HLS_CAMERAS[n % 2]
                page.evaluate("id => window.lawangjaboMap.choose(id)", camera)
                opsmap.wait_shown(page, camera)
                page.click(".lj-golive")
                got = page.wait_for_function(PLAYER, timeout=30_000, polling=10).json_value()
                cold_first.append(got["first"])
                if got["poster"] is not None:
                    cold_poster.append(got["poster"])
                # a second viewer of the same camera, in another tab: the relay is warm
                other = signed_in_page(browser, server)
                opsmap.open_map(other, f"{server.url}/?camera={camera}")
                opsmap.wait_shown(other, camera)
                other.click(".lj-golive")
                warm = other.wait_for_function(PLAYER, timeout=30_000, polling=10).json_value()
                warm_first.append(warm["first"])
                other.wait_for_timeout(3000)
                delays.append(other.evaluate("() => window.lawangjaboMap.player.latency") or 0)
                other.context.close()
                page.click(".lj-golive")
                page.wait_for_timeout(1500)  # the upstream closes (linger 0)
            browser.close()
    finally:
        stop(process)
    return {
        "poster_ms": summary(cold_poster),
        "first_frame_ms_cold": summary(cold_first),
        "first_frame_ms_warm": summary(warm_first),
        "delay_shown_s": summary([d for d in delays if d is not None]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"relay": relay(args.seconds)}
    r = results["relay"]
    cpu_ratio = r["relay_cpu_pct"] / TARGETS["relay_cpu_pct"]
    print(f"relay CPU, one H.264 stream: {r['relay_cpu_pct']} % of a core "
          f"(target ≤ {TARGETS['relay_cpu_pct']} %: {cpu_ratio:.2f}×);"
          f" decoding it instead: {r['decode_cpu_pct_baseline']} % (relay/decode "
          f"{r['relay_vs_decode']})")  # fmt: skip
    print(f"10 viewers: {r['ten_viewers']['upstreams']} upstream, opened "
          f"{r['ten_viewers']['upstreams_opened']}×; playlist fetches/s 10 vs 1 viewer: "
          f"{r['ten_vs_one_fetches']}×")  # fmt: skip
    if not args.no_browser:
        results["browser"] = b = browser_trials(args.trials)
        for key, target in (("poster_ms", "poster_ms"), ("first_frame_ms_cold", "first_frame_ms"),
                            ("first_frame_ms_warm", "first_frame_ms")):  # fmt: skip
            s = b[key]
            ratio = f"{s['p95'] / TARGETS[target]:.2f}×" if s["p95"] is not None else "n/a"
            print(f"{key}: p50 {s['p50']} ms, p95 {s['p95']} ms "
                  f"(target ≤ {TARGETS[target]} ms: p95 {ratio})")  # fmt: skip
        print(f"delay shown after 3 s: p50 {b['delay_shown_s']['p50']} s")
    ARTIFACTS.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"targets": TARGETS, **results}, indent=2), encoding="utf-8")
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
