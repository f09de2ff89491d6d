"""An example of the `POST /v1/timelines` stream, for the OpenAPI document (three windows shown)."""

from __future__ import annotations

import json
from typing import Any

_LINES: list[dict[str, Any]] = [
    {
        "type": "timeline",
        "id": "q8Yc0Jk1bq2n7l3Wv9xZaA",
        "model": {"name": "motion-vivit", "version": "1"},
        "clip": {"duration_s": 8.0, "fps": 10.0, "width": 128, "height": 96, "rotation": 0, "stream": 0},
        "window_s": 4.0,
        "stride_s": 2.0,
        "windows": 3,
    },
    *(
        {
            "type": "window",
            "index": k,
            "start_s": 2.0 * k,
            "end_s": 2.0 * k + 4.0,
            "labels": [{"label": label, "score": 0.9}, {"label": "static", "score": 0.03}],
            "frame_importance": [0.12, 0.13, 0.13, 0.12, 0.12, 0.13, 0.13, 0.12],
            "timestamps_s": [2.0 * k + 0.25 + 0.5 * i for i in range(8)],
        }
        for k, label in enumerate(("moving_right", "moving_right", "growing"))
    ),
    {
        "type": "segments",
        "segments": [
            {"label": "moving_right", "start_s": 0.0, "end_s": 5.0, "score": 0.9},
            {"label": "growing", "start_s": 5.0, "end_s": 8.0, "score": 0.9},
        ],
    },
    {
        "type": "done",
        "timings_ms": {
            "upload": 12.0,
            "first_window": 61.0,
            "decode": 40.0,
            "queue": 3.0,
            "inference": 9.0,
            "total": 95.0,
        },
    },
]

NDJSON_EXAMPLE = "".join(json.dumps(line) + "\n" for line in _LINES)
