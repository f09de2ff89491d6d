"""Video Swin Transformer: 3-D shifted windows on a shrinking grid (`models.swin.model`).

`windows` (static window geometry), `layers` (window attention, blocks, merging, stages), `maps` (the
`shifted_windows` reducer), `model` (config and model), `zoo` (named constructors).
"""

from models.swin.model import VideoSwin, VideoSwinConfig

__all__ = ["VideoSwin", "VideoSwinConfig"]
