"""Scoring latency of our DIN/DIEN and DeepCTR-Torch's, interleaved in one process.

    THROWAWAY_VENV/bin/python benchmarks/scoring_interleaved.py PEERS_DIR [--blocks 20]

Run by `models_speed.py` inside the throwaway venv that has deepctr-torch (it also sees this
project through sys.path). A shared VM's speed drifts within seconds (page-fault cost, and a
slow state that can last a process's life), so separate runs of the two libraries can land in
different machine states. Here the two alternate in short blocks (theirs `predict` x calls,
then our `score` x calls, on the set-up of PEERS_DIR/bench_dct.py: one request, 100 candidates,
a full history of 50) and each block's ratio compares medians taken a few milliseconds apart.
Prints one JSON line: {model: {"theirs_ms": [...], "ours_ms": [...]}} with one median per block.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("peers", help="folder holding bench_dct.py")
    ap.add_argument("--blocks", type=int, default=20)
    ap.add_argument("--calls", type=int, default=10, help="calls per block and library")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    sys.path[:0] = [args.peers, str(ROOT), str(ROOT / "benchmarks")]
    import bench_dct
    import numpy as np
    import torch
    from models_speed import N_CANDIDATES, N_ITEMS, median_ms, synthetic_batch

    from drnsim.config import WorldConfig
    from drnsim.features import FeatureSpec
    from drnsim.models import make_model

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    item2cate = rng.integers(1, bench_dct.N_CATE + 1, bench_dct.N_ITEM + 1)
    item2cate[0] = 0
    request = bench_dct.make_data(1, rng, item2cate, full_history=True)
    candidates = rng.integers(1, bench_dct.N_ITEM + 1, bench_dct.N_CAND)
    request = {k: np.repeat(v, bench_dct.N_CAND, axis=0) for k, v in request.items()}
    request["item_id"], request["cate_id"] = candidates, item2cate[candidates]
    spec = FeatureSpec.from_config(WorldConfig(n_users=10_000, n_topics=20),
                                   n_item_buckets=N_ITEMS + 1)
    ours_request = synthetic_batch(spec, 1, N_CANDIDATES, True, torch.Generator().manual_seed(0))
    results = {}
    for name in ("din", "dien"):
        theirs, names = bench_dct.build(bench_dct.CONFIGS[name])
        x = bench_dct.select(request, names)
        ours = make_model(name, spec).eval()

        def theirs_call(theirs=theirs, x=x):
            return theirs.predict(x, batch_size=256)

        def ours_call(ours=ours):
            return ours.score(ours_request)

        for _ in range(bench_dct.N_WARM):
            theirs_call()
            ours_call()
        theirs_ms, ours_ms = [], []
        for _ in range(args.blocks):
            theirs_ms.append(median_ms(theirs_call, args.calls))
            ours_ms.append(median_ms(ours_call, args.calls))
        results[name] = {"theirs_ms": theirs_ms, "ours_ms": ours_ms}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
