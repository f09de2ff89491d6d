"""MTV, multiview transformers: several tubelet sizes, cross-view attention, a global encoder.

`fusion` (cross-view attention), `maps` (the `multiview` reducer and per-view maps), `model` (config,
view encoders, model), `zoo` (named constructors).
"""

from models.mtv.model import MTV, MTVConfig

__all__ = ["MTV", "MTVConfig"]
