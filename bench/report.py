"""Results to files: JSON (everything), a markdown table (what goes in the README) and PNG plots."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if isinstance(value, float):
            return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(data: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def _errors(row: dict[str, Any]) -> str:
    errors = row.get("errors") or {}
    text = ", ".join(f"{k}×{v}" for k, v in errors.items()) or "0"
    return text + (f"; {row['killed']}" if row.get("killed") else "")


SERVERS = ("vtserve", "baseline", "litserve")  # the e2e run's servers, in their table order


def _wrong(row: dict[str, Any]) -> str:
    """Wrong top-1 answers (vs vtserve's for the clip) of the 200s checked."""
    return f"{row['wrong_answers']}/{row['checked']}" if "checked" in row else "–"


def _server_row(server: str, row: dict[str, Any]) -> list[Any]:
    lat = row["latency"]
    stages = (row.get("breakdown") or {}).get("stage_mean_ms") or {}
    means = (
        " / ".join(
            f"{stages.get(s):.0f}" if stages.get(s) is not None else "–"
            for s in ("upload", "decode", "queue", "inference", "postprocess")
        )
        if stages
        else "–"
    )
    batch = (row.get("breakdown") or {}).get("mean_batch_size")
    latency = [lat["p50_ms"], lat["p95_ms"], lat["p99_ms"]]
    counts = [_errors(row), _wrong(row), batch, means, row.get("peak_rss_mb")]
    return [server, row["concurrency"], row["clips_per_s"], *latency, *counts]


def _e2e_rows(results: dict[str, Any]) -> list[list[Any]]:
    rows = [_server_row(server, row) for server in SERVERS for row in results.get(server) or []]
    limit = results.get("pipeline_limit")
    if limit:
        lat = limit["latency"]
        latency = [lat["p50_ms"], lat["p95_ms"], lat["p99_ms"]]
        counts = [_errors(limit), "–", limit["mean_batch_size"], "–", None]
        rows.append(["pipeline limit (in-process)", limit["concurrency"], limit["clips_per_s"], *latency])
        rows[-1] += counts
    return rows


E2E_HEADERS = (
    "server",
    "clients",
    "clips/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "errors (status×count)",
    "wrong top-1 / checked",
    "mean batch",
    "stage means ms (upload/decode/queue/infer/post)",
    "peak RSS MB",
)


def _answers_lines(results: dict[str, Any]) -> list[str]:
    """Each server's answers, clip by clip, against vtserve's (asked once per clip after warm-up)."""
    lines = []
    for server, a in (results.get("answers") or {}).items():
        differ = f" (differ: {', '.join(a['differ'])})" if a["differ"] else ""
        lines.append(
            f"- {server}: top-1 as vtserve's on {a['same_top1']}/{a['clips']} clips, the same top-5 labels "
            f"on {a['same_labels']}/{a['clips']}, largest score difference {a['max_score_delta']:.2g}{differ}"
        )
    peer = results.get("peer")
    if peer:
        lines.append(
            f"- LitServe peer: {peer['workers']} workers, max_batch_size {peer['max_batch_size']}, "
            f"batch_timeout {peer['batch_timeout_s']:g} s, onnxruntime intra-op threads "
            f"{peer['intra_op_threads'] or 'default'} (as vtserve)"
        )
    return lines


def _ratio_table(title: str, ratios: list[dict[str, Any]]) -> list[str]:
    if not ratios:
        return []
    table = markdown_table(
        ["clients", "throughput ×", "p99 ratio (lower is better)", "note"],
        [[r["concurrency"], r["throughput_ratio"], r["p99_ratio"], r.get("note", "")] for r in ratios],
    )
    return ["", title, "", table]


def e2e_markdown(results: dict[str, Any]) -> str:
    model = results["model"]
    env = results["environment"]["before"]
    after = results["environment"]["after"]
    parts = [
        f"### End to end: {model['label']} ({model['num_frames']}×{model['image_size']}², "
        f"{model['gflop_per_clip']:.2f} GFLOP/clip)",
        "",
        f"{env['time_utc']} UTC, {env['host_cpus']} CPUs ({env['cpu_model']}), commit {env['git_commit']}, "
        f"load average {env['load_average'][0]} before / {after['load_average'][0]} after; "
        f"{results['duration_s']:g} s per level, {len(results['clips'])} clips "
        "(real files + generated motion MP4s incl. a 10 s 720p one), multipart uploads, closed loop.",
        "",
        markdown_table(E2E_HEADERS, _e2e_rows(results)),
    ]
    answers = _answers_lines(results)
    if answers:
        parts += ["", "Answers (each clip once, after warm-up) against vtserve's:", "", *answers]
    comparison = results.get("comparison") or {}
    parts += _ratio_table("vtserve / baseline:", comparison.get("ratios") or [])
    parts += _ratio_table("vtserve / LitServe:", comparison.get("peer_ratios") or [])
    goals = comparison.get("goals") or {}
    if goals:
        parts += ["", "Goals:", ""]
        parts.append(
            markdown_table(
                ["goal", "target", "measured", "met"],
                [[name, g["goal"], g["value"], "yes" if g["met"] else "no"] for name, g in goals.items()],
            )
        )
    return "\n".join(parts) + "\n"


def e2e_plots(results: dict[str, Any], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, (ax_t, ax_l) = plt.subplots(1, 2, figsize=(11, 4.2))
    for server, colour in (("vtserve", "tab:blue"), ("baseline", "tab:orange"), ("litserve", "tab:green")):
        rows = results.get(server) or []
        if not rows:
            continue
        c = [r["concurrency"] for r in rows]
        ax_t.plot(c, [r["clips_per_s"] for r in rows], "o-", color=colour, label=server)
        for key, style in (("p50_ms", "o-"), ("p99_ms", "s--")):
            ax_l.plot(
                c,
                [r["latency"][key] / 1000.0 for r in rows],
                style,
                color=colour,
                label=f"{server} {key[:3]}",
            )
    limit = results.get("pipeline_limit")
    if limit:
        ax_t.axhline(limit["clips_per_s"], color="grey", linestyle=":", label="pipeline limit")
    for ax in (ax_t, ax_l):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent clients")
        ax.grid(alpha=0.3)
        ax.legend()
    ax_t.set_ylabel("clips / s")
    ax_t.set_title("Throughput")
    ax_l.set_ylabel("latency (s)")
    ax_l.set_yscale("log")
    ax_l.set_title("Latency")
    fig.suptitle(f"{results['model']['label']} — CPU, {results['environment']['before']['host_cpus']} cores")
    fig.tight_layout()
    path = out_dir / "e2e.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)
    return paths


def write_e2e(results: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "e2e.md"
    md.write_text(e2e_markdown(results))
    return [write_json(results, out_dir / "e2e.json"), md, *e2e_plots(results, out_dir)]


def models_markdown(results: dict[str, Any]) -> str:
    env = results["environment"]["before"]
    after = results["environment"]["after"]
    parts = [
        "### Models on CPU: onnxruntime vs PyTorch eager",
        "",
        f"{env['time_utc']} UTC, {env['host_cpus']} CPUs ({env['cpu_model']}), load average "
        f"{env['load_average'][0]} before / {after['load_average'][0]} after; uint8 video in, logits + "
        "attention out; median of the timed runs; FLOPs counted with FlopCounterMode "
        "(with attention outputs).",
        "",
        markdown_table(
            ["model", "runtime", "batch", "runs", "ms / clip", "clips/s", "GFLOP/clip", "GFLOP/s"],
            [
                [
                    r["model"],
                    r["runtime"],
                    r["batch"],
                    r["repeats"],
                    r["ms_per_clip"],
                    r["clips_per_s"],
                    r["gflop_per_clip"],
                    r["achieved_gflops"],
                ]
                for r in results["rows"]
            ],
        ),
    ]
    return "\n".join(parts) + "\n"


def models_plot(results: dict[str, Any], out_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in results["rows"]))
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        for runtime, style in (("onnxruntime", "o-"), ("torch eager", "s--")):
            rows = [r for r in results["rows"] if r["model"] == model and r["runtime"] == runtime]
            ax.plot([r["batch"] for r in rows], [r["achieved_gflops"] for r in rows], style, label=runtime)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_ylabel("achieved GFLOP/s")
        ax.set_title(model, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = out_dir / "models.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_models(results: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "models.md"
    md.write_text(models_markdown(results))
    return [write_json(results, out_dir / "models.json"), md, models_plot(results, out_dir)]


def gpu_markdown(results: dict[str, Any]) -> str:
    info = results["info"]
    env = results["environment"]
    parts = [
        f"### GPU: {info['model']} on {info['device']}",
        "",
        f"{env['time_utc']} UTC, torch {info['torch']} (CUDA {info['cuda']}), {info['gflop_per_clip']:.1f} "
        f"GFLOP/clip, MFU against {info['peak_tflops']:g} TFLOP/s; "
        "compute = input on the device (CUDA events), "
        "runtime = the TorchRuntime.infer path (host uint8 → device → forward → host); medians of "
        f"{info['iters']} runs.",
        "",
        markdown_table(
            [
                "dtype",
                "attention",
                "outputs",
                "CUDA graph",
                "batch",
                "compute ms",
                "runtime ms",
                "clips/s (runtime)",
                "MFU",
                "peak MB",
                "error",
            ],
            [
                [
                    r["dtype"],
                    r["attention_kernel"],
                    "logits+attention" if r["attention_outputs"] else "logits",
                    "yes" if r["cuda_graph"] else "no",
                    r["batch"],
                    r["compute_ms"],
                    r["runtime_ms"],
                    r["runtime_clips_per_s"],
                    None if r["mfu"] is None else f"{100 * r['mfu']:.1f}%",
                    r["peak_memory_mb"],
                    r["error"] or "",
                ]
                for r in results["rows"]
            ],
        ),
    ]
    goals = (results.get("summary") or {}).get("goals") or {}
    if goals:
        parts += [
            "",
            markdown_table(
                ["goal", "target", "measured", "met"],
                [[name, g["goal"], g["value"], "yes" if g["met"] else "no"] for name, g in goals.items()],
            ),
        ]
    check = results.get("torch_runtime_check")
    if check:
        parts += ["", f"TorchRuntime itself ({check[0].get('provider')}):", ""]
        parts.append(
            markdown_table(
                ["batch", "ms", "clips/s"],
                [[r["batch"], r["runtime_ms"], r["clips_per_s"]] for r in check[1:]],
            )
        )
    return "\n".join(parts) + "\n"


def gpu_plot(results: dict[str, Any], out_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_c, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2))
    series: dict[str, list[dict[str, Any]]] = {}
    for r in results["rows"]:
        if r["error"] is None and r["compute_ms"]:
            key = (
                f"{r['dtype']} {r['attention_kernel']} {'attn' if r['attention_outputs'] else 'logits'}"
                f"{' graph' if r['cuda_graph'] else ''}"
            )
            series.setdefault(key, []).append(r)
    for key, rows in series.items():
        b = [r["batch"] for r in rows]
        ax_c.plot(b, [r["runtime_clips_per_s"] for r in rows], "o-", label=key, markersize=3)
        ax_m.plot(b, [100 * r["mfu"] for r in rows], "o-", label=key, markersize=3)
    for ax, label in ((ax_c, "clips/s (runtime path)"), (ax_m, "MFU %")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax_m.legend(fontsize=6)
    fig.suptitle(f"{results['info']['model']} on {results['info']['device']}")
    fig.tight_layout()
    path = out_dir / "gpu.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_gpu(results: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "gpu.md"
    md.write_text(gpu_markdown(results))
    return [write_json(results, out_dir / "gpu.json"), md, gpu_plot(results, out_dir)]
