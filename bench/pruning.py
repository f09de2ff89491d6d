"""Token pruning (temporal relevance allocation, `models.pruning`) on `motion`: top-1 and latency per ratio.

    python -m bench.pruning                     # train (or reuse) the joint model, export, measure
    python -m bench.pruning --minutes 1 --test-clips 440 --repeats 10   # a quicker, noisier run

1. A joint-attention ViViT (Model 1; 8 frames of 32², tubelets 2×8×8 → 4 × 4 × 4 = 64 tokens, width 96,
   3 layers) is trained on `motion` for `--minutes` (≤ 5) on one thread with the demo recipe
   (`models.demo.train`), unpruned; nothing is fine-tuned for pruning. The checkpoint is kept in
   `<out>/work/motion-vivit-joint` and reused unless `--retrain`.
2. It is exported with `--keep-ratio` 1.0 / 0.75 / 0.5 / 0.25 (`export.export_model(..., keep_ratio=)`,
   parity-checked); every number below comes from onnxruntime (CPU, one thread), as served.
3. Top-1 on the issue-9 test set (`models.demo.motion.render_test_clips`, seed `TEST_SEED`, the first
   `--test-clips`), and agreement with the unpruned bundle's top-1.
4. A static-camera set: clips of every class rendered at difficulty 0 (still background, at most a
   little sensor noise, a small object): the share of tokens whose pixels change from the previous
   tubelet slice (mean |Δ| > 4/255), the share of the object's tokens (coverage > 10 %) that pruning
   keeps, and top-1.
5. Latency: median seconds per batch (1 and 8) over `--repeats` runs, the ratios interleaved, for the
   trained model and for a ViViT-S-size joint model at 16 × 224² (1568 tokens, random weights: latency
   only). Since `k` is fixed, latency does not depend on the clip's content.

Writes `<out>/pruning.json` and `<out>/pruning.md`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

RATIOS = (1.0, 0.75, 0.5, 0.25)
NAME = "motion-vivit-joint"
CHANGE_THRESHOLD = 4.0  # pixel levels (of 255), mean over a token's pixels
OBJECT_COVERAGE = 0.1


def joint_motion_model() -> Any:
    """ViViT Model 1 on `motion`'s input contract (the demo cards': uniform sampling, Kinetics mean/std)."""
    from models.demo.configs import MOTION_POLICY
    from models.demo.motion import LABELS
    from models.registry import build_model
    from models.vivit import ViViT, ViViTConfig

    config = ViViTConfig(
        num_frames=8,
        image_size=32,
        patch_size=8,
        tubelet_size=2,
        embed_dim=96,
        depth=3,
        num_heads=3,
        mlp_dim=384,
    )
    source = "bench/pruning.py: ViViT Model 1 trained briefly on motion (models/demo)"
    card = {**MOTION_POLICY, "source": source}
    return build_model(ViViT, config, name=NAME, card=card, labels=LABELS)


def init_positions(model: Any, scale: float, seed: int) -> None:
    """`pos_embed` as cosine (DCT) patterns over frame, row and column along random directions (the demo
    recipe's idea, on the joint `(T', h, w)` grid instead of a square one)."""
    import torch

    from models.demo.recipe import dct_basis, embed_along

    grid, dim = model.grid, model.config.embed_dim
    g = torch.Generator().manual_seed(seed)

    t, h, w = (
        torch.arange(grid.tokens) // d % n for d, n in ((grid.patches, grid.t), (grid.w, grid.h), (1, grid.w))
    )
    features = torch.cat([dct_basis(grid.t)[t], dct_basis(grid.h)[h], dct_basis(grid.w)[w]], dim=1)
    with torch.no_grad():
        model.pos_embed[0, 1:] = embed_along(features, dim, scale, g)


def trained_checkpoint(
    work: Path, *, minutes: float, seed: int, retrain: bool
) -> tuple[Path, dict[str, Any]]:
    """Train the joint model (one thread, `minutes`) unless a checkpoint from an earlier run exists."""
    import models
    from models.demo.train import TrainConfig, train

    folder = work / NAME
    facts_path = folder / "training.json"
    if not retrain and facts_path.is_file():
        return folder, json.loads(facts_path.read_text())
    import torch

    torch.manual_seed(seed)
    model = joint_motion_model()
    init_positions(model, 0.5, seed)
    # the schedule (warm-up, cosine, curriculum) runs on wall time: it ends at `minutes` whatever the load
    cfg = TrainConfig(
        name=NAME, seed=seed, steps=10**6, max_minutes=minutes, threads=1, runs_dir=work / "runs"
    )
    cfg.embed_init_scale = 0.0  # positions initialised above
    if hasattr(cfg, "h264_items"):
        cfg.h264_items = 0  # no H.264 round-trip pool: building it takes minutes, longer than the budget
    facts = train(model.train(), model.card.input, cfg, progress=False, log=print)
    models.save_pretrained(model.eval(), folder)
    facts_path.write_text(json.dumps(facts, indent=2) + "\n")
    return folder, facts


def export_ratios(model: Any, work: Path, label: str) -> dict[float, Path]:
    from export import export_model

    bundles = {}
    for ratio in RATIOS:
        out = work / f"{label}-keep{ratio}"
        manifest = export_model(model, out, keep_ratio=ratio)
        assert manifest.parity is not None and manifest.parity.passed, manifest.parity
        bundles[ratio] = out
    return bundles


def sessions(bundles: dict[float, Path]) -> dict[float, Any]:
    import onnxruntime as ort

    from export.manifest import ONNX_NAME

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return {
        r: ort.InferenceSession(str(b / ONNX_NAME), options, providers=["CPUExecutionProvider"])
        for r, b in bundles.items()
    }


def predict(session: Any, clips: np.ndarray, batch: int = 64) -> np.ndarray:
    from export.manifest import INPUT_NAME, OUTPUT_LOGITS

    out = [
        session.run([OUTPUT_LOGITS], {INPUT_NAME: clips[i : i + batch]})[0]
        for i in range(0, len(clips), batch)
    ]
    return np.concatenate(out).argmax(1)


def accuracy(runs: dict[float, Any], clips: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, float]]:
    preds = {r: predict(s, clips) for r, s in runs.items()}
    return {
        str(r): {
            "top1": round(float((p == labels).mean()), 4),
            "agreement_with_unpruned": round(float((p == preds[1.0]).mean()), 4),
        }
        for r, p in preds.items()
    }


def static_camera_set(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`n` clips (classes in turn) at difficulty 0: frames, labels, object masks `[n, 8, 32, 32]`."""
    from models.demo.motion import NUM_CLASSES, render_clip

    rendered = [
        render_clip(i % NUM_CLASSES, np.random.default_rng([seed, i]), num_frames=8, difficulty=0.0)
        for i in range(n)
    ]
    frames = np.stack([c.frames for c in rendered])
    return frames, np.array([c.label for c in rendered]), np.stack([c.masks for c in rendered])


def token_view(values: np.ndarray, grid: tuple[int, int, int], patch: int = 8) -> np.ndarray:
    """`[N, T, H, W, ...]` pixels → `[N, T'·h·w, tubelet·patch²·...]` per token (frame-major)."""
    t, h, w = grid
    n, frames = values.shape[:2]
    v = values.reshape(n, t, frames // t, h, patch, w, patch, -1)
    return v.transpose(0, 1, 3, 5, 2, 4, 6, 7).reshape(n, t * h * w, -1)


def static_camera_facts(model: Any, clips: np.ndarray, masks: np.ndarray) -> dict[str, Any]:
    """Share of changing tokens, and the share of the object's tokens each ratio keeps."""
    import torch

    from export.wrapper import channel_stats, normalize_video
    from models.pruning import kept_count, relevance, select

    grid = tuple(model.grid)
    pixels = token_view(clips.astype(np.float32), grid)  # [N, L, ·]
    per_slice = pixels.reshape(len(clips), grid[0], -1, pixels.shape[-1])
    change = np.abs(np.diff(per_slice, axis=1)).mean(-1)  # [N, T' - 1, n]
    obj = token_view(masks[..., None], grid).mean(-1) > OBJECT_COVERAGE  # [N, L]
    x = normalize_video(
        torch.from_numpy(clips), channel_stats(model.card.input.mean), channel_stats(model.card.input.std)
    )
    with torch.no_grad():
        scores = relevance(model.patch_embed(x).reshape(len(clips), model.grid.tokens, -1), model.grid)
    kept_object = {}
    for ratio in RATIOS:
        kept = select(scores, kept_count(model.grid.tokens, ratio)).numpy()
        mask = np.zeros_like(obj)
        np.put_along_axis(mask, kept, True, axis=1)
        kept_object[str(ratio)] = round(float((mask & obj).sum() / obj.sum()), 4)
    return {
        "clips": len(clips),
        "changing_token_share": round(float((change > CHANGE_THRESHOLD).mean()), 4),
        "object_token_share": round(float(obj.mean()), 4),
        "object_tokens_kept": kept_object,
    }


def latency(
    runs: dict[float, Any], shape: tuple[int, ...], batches: tuple[int, ...], repeats: int
) -> dict[str, Any]:
    """Median seconds per batch, the ratios interleaved round by round (load hits all alike)."""
    from export.manifest import INPUT_NAME

    out: dict[str, Any] = {}
    for batch in batches:
        video = np.random.default_rng(batch).integers(0, 256, (batch, *shape), dtype=np.uint8)
        times: dict[float, list[float]] = {r: [] for r in runs}
        for s in runs.values():
            s.run(None, {INPUT_NAME: video})  # warm-up
        for _ in range(repeats):
            for r, s in runs.items():
                start = time.perf_counter()
                s.run(None, {INPUT_NAME: video})
                times[r].append(time.perf_counter() - start)
        medians = {r: statistics.median(t) for r, t in times.items()}
        out[str(batch)] = {
            str(r): {"median_s": round(m, 5), "speedup": round(medians[1.0] / m, 2)}
            for r, m in medians.items()
        }
    return out


def vivit_s_latency(work: Path, repeats: int) -> dict[str, Any]:
    """A ViViT-S-size joint model at 16 × 224² (8 × 14 × 14 = 1568 tokens), random weights."""
    from models.registry import build_model
    from models.vivit import ViViT, ViViTConfig

    config = ViViTConfig(num_frames=16, image_size=224, embed_dim=384, depth=12, num_heads=6, mlp_dim=1536)
    model = build_model(ViViT, config, name="vivit_s_16x224").eval()
    runs = sessions(export_ratios(model, work, "vivit-s"))
    return {"tokens": model.grid.tokens, "batches": latency(runs, (16, 224, 224, 3), (1,), repeats)}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import models
    from bench.environment import describe_environment
    from models.demo.evaluate import TEST_SEED
    from models.demo.motion import render_test_clips

    work = args.out / "work"
    checkpoint, facts = trained_checkpoint(work, minutes=args.minutes, seed=args.seed, retrain=args.retrain)
    model = models.load_pretrained(checkpoint)
    runs = sessions(export_ratios(model, work, NAME))
    test = render_test_clips(args.test_clips, TEST_SEED, num_frames=8, height=32, width=32)
    clips, labels = np.stack([c.frames for c in test]), np.array([c.label for c in test])
    still, still_labels, masks = static_camera_set(args.static_clips, args.seed + 1)
    print(f"measuring {len(clips)} test clips and {len(still)} static-camera clips at {RATIOS}")
    return {
        "model": {
            "name": NAME,
            "architecture": "ViViT Model 1 (joint), 8x32x32, tubelets 2x8x8 (64 tokens), width 96, 3 layers",
            "tokens": model.grid.tokens,
            "kept_tokens": {str(r): round(r * model.grid.tokens) for r in RATIOS},
            "training": {k: facts.get(k) for k in ("steps", "train_minutes", "threads", "val")},
        },
        "test_set": {
            "what": "issue-9 motion test set (models.demo.motion.render_test_clips), first clips",
            "clips": len(clips),
            "seed": TEST_SEED,
            "by_keep_ratio": accuracy(runs, clips, labels),
        },
        "static_camera": {
            "what": "motion clips at difficulty 0 (still background, little sensor noise)",
            **static_camera_facts(model, still, masks),
            "by_keep_ratio": accuracy(runs, still, still_labels),
        },
        "latency_s": {
            "runtime": "onnxruntime CPU, 1 thread, graphs with both attention outputs",
            "motion_vivit_joint": latency(runs, (8, 32, 32, 3), (1, 8), args.repeats),
            "vivit_s_16x224": vivit_s_latency(work, max(3, args.repeats // 10)),
        },
        "environment": describe_environment(),
    }


def markdown(result: dict[str, Any]) -> str:
    tiny, big = result["latency_s"]["motion_vivit_joint"], result["latency_s"]["vivit_s_16x224"]
    test, still = result["test_set"]["by_keep_ratio"], result["static_camera"]["by_keep_ratio"]
    kept = result["static_camera"]["object_tokens_kept"]
    lines = [
        "| keep ratio | tokens | top-1 (test) | same top-1 as 1.0 | top-1 (static camera) "
        "| object tokens kept | 64-token model b1 / b8 (ms) | ViViT-S 1568 tokens b1 (ms) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in map(str, RATIOS):
        b1, b8, s1 = tiny["1"][r], tiny["8"][r], big["batches"]["1"][r]
        lines.append(
            f"| {r} | {result['model']['kept_tokens'][r]} | {test[r]['top1']:.3f} "
            f"| {test[r]['agreement_with_unpruned']:.3f} | {still[r]['top1']:.3f} | {kept[r]:.3f} "
            f"| {b1['median_s'] * 1e3:.2f} / {b8['median_s'] * 1e3:.2f} "
            f"(×{b1['speedup']} / ×{b8['speedup']}) "
            f"| {s1['median_s'] * 1e3:.0f} (×{s1['speedup']}) |"
        )
    facts = result["static_camera"]
    lines.append("")
    lines.append(
        f"Test set: {result['test_set']['clips']} clips; static camera: {facts['clips']} clips, "
        f"{facts['changing_token_share']:.1%} of tokens change (mean |Δ| > {CHANGE_THRESHOLD:g}/255), "
        f"{facts['object_token_share']:.1%} cover the object."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--minutes", type=float, default=4.8, help="training budget, one thread (≤ 5)")
    parser.add_argument("--retrain", action="store_true", help="train again even if a checkpoint exists")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-clips", type=int, default=2200)
    parser.add_argument("--static-clips", type=int, default=550)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    result = measure(args)
    (args.out / "pruning.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "pruning.md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {args.out / 'pruning.json'} and {args.out / 'pruning.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
