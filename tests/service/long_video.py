"""Long test videos assembled from `motion` clips of known classes at known times (for timelines).

Each segment is one clip of the issue-9 renderer (`models.demo.motion.render_clip`) spread over the
segment's frames, so the whole motion happens within the segment; frames are encoded as they are rendered
(libx264 ultrafast), so a long video never sits in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.video.stream
import numpy as np


@dataclass(frozen=True)
class Truth:
    label: str
    start_s: float
    end_s: float


def assemble(
    segments: Sequence[tuple[str, float]],
    path: Path,
    *,
    fps: int = 10,
    width: int = 128,
    height: int = 96,
    seed: int = 7,
    difficulty: float = 0.1,
) -> list[Truth]:
    """Write the video of `segments` (label, seconds) to `path`; returns where each class really is."""
    from models.demo.motion import render_clip

    truth: list[Truth] = []
    start = 0.0
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for k, (label, seconds) in enumerate(segments):
            count = round(seconds * fps)
            clip = render_clip(
                label, seed + k, num_frames=count, height=height, width=width, difficulty=difficulty
            )
            for frame in clip.frames:
                rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                for packet in stream.encode(rgb):
                    container.mux(packet)
            truth.append(Truth(label, start, start + count / fps))
            start += count / fps
        for packet in stream.encode():
            container.mux(packet)
    return truth
