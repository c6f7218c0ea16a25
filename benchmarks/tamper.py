"""Benchmark: the tamper checks (moved, blurred, covered) on a labelled set from the simulator.

    .venv/bin/python benchmarks/tamper.py [--cameras 20] [--normal 9] [--per-kind 3] [--seed 7]

Each simulated camera learns its reference from a day of good thumbnails (5 at each light:
night, dusk, day); the next day's thumbnails are then classified: normal ones at every light,
and ones the simulator tampered with (moved: turned, knocked or pointed at another street;
blurred: defocus or rain; covered: a flat lit surface, sometimes with a strip of scene). The
on-screen text stays sharp and in place, as on a real camera. Prints precision and recall per
kind, the time per thumbnail (features and verdict), and the same figures for the baseline
measured in the same run: the check we had before, the low-detail flag (variance of the
Laplacian), read as "blurred or covered". Targets (issue 23): precision and recall >= 0.9
each; <= 1 ms per thumbnail.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lawangjabo.cameras.imaging import check_frame  # noqa: E402
from lawangjabo.cameras.tamper import Reference, classify, features  # noqa: E402
from lawangjabo.cameras.tamperset import labelled_set  # noqa: E402

KINDS = ("moved", "blurred", "covered")
ARTIFACT = ROOT / "test-artifacts" / "tamper.json"


def scores(pairs: list[tuple[str, str]]) -> dict[str, dict[str, float | int]]:
    """Precision and recall per kind from (truth, verdict) pairs ('normal' = no tamper)."""
    result: dict[str, dict[str, float | int]] = {}
    for kind in (*KINDS, "any"):

        def hit(label: str, kind: str = kind) -> bool:
            return label != "normal" if kind == "any" else label == kind

        tp = sum(1 for truth, said in pairs if hit(truth) and hit(said)
                 and (kind == "any" or truth == said))  # fmt: skip
        said = sum(1 for _, s in pairs if hit(s))
        real = sum(1 for t, _ in pairs if hit(t))
        result[kind] = {
            "precision": round(tp / said, 3) if said else 1.0,
            "recall": round(tp / real, 3) if real else 1.0,
            "said": said,
            "real": real,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=20)
    parser.add_argument("--normal", type=int, default=9)
    parser.add_argument("--per-kind", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    learn, samples = labelled_set(args.cameras, args.normal, args.per_kind, args.seed)
    references: dict[str, Reference] = {}
    for camera_id, pictures in learn.items():
        reference = references.setdefault(camera_id, Reference())
        for picture in pictures:
            reference.learn(features(picture))
    ours: list[tuple[str, str]] = []
    baseline: list[tuple[str, str]] = []
    started = time.perf_counter()
    for sample in samples:
        verdict = classify(features(sample.thumbnail), references[sample.camera_id])
        ours.append((sample.label, verdict or "normal"))
    ours_ms = (time.perf_counter() - started) * 1000 / len(samples)
    started = time.perf_counter()
    for sample in samples:
        low = check_frame(sample.thumbnail).low_detail
        # the old flag cannot tell blur from a cover: credited with whichever it was
        credited = sample.label if sample.label in ("blurred", "covered") else "blurred"
        said = credited if low else "normal"
        baseline.append((sample.label, said))
    baseline_ms = (time.perf_counter() - started) * 1000 / len(samples)
    mine, theirs = scores(ours), scores(baseline)
    counts = Counter(s.label for s in samples)
    print(f"{len(samples)} thumbnails of {args.cameras} cameras: {dict(counts)}")
    print(f"{'kind':8} {'precision':>9} {'recall':>7}   baseline (low-detail flag)")
    for kind in (*KINDS, "any"):
        m, t = mine[kind], theirs[kind]
        print(f"{kind:8} {m['precision']:9.3f} {m['recall']:7.3f}   "
              f"{t['precision']:.3f} / {t['recall']:.3f}")  # fmt: skip
    print(f"time per thumbnail: {ours_ms:.3f} ms (baseline check {baseline_ms:.3f} ms, "
          f"×{ours_ms / baseline_ms:.2f}); target <= 1 ms")  # fmt: skip
    wrong = Counter((t, s) for t, s in ours if t != s)
    if wrong:
        print("mistakes (truth → said):", dict(wrong))
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps({"ours": mine, "baseline": theirs, "ms": round(ours_ms, 3),
                                    "baseline_ms": round(baseline_ms, 3)}, indent=1))  # fmt: skip
    print(f"figures in {ARTIFACT}")


if __name__ == "__main__":
    main()
