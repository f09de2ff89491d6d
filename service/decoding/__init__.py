"""Hardened, fast decoding of untrusted video uploads into the model's uint8 clips.

Public API (others code against these names):

* :class:`DecodeRequest`, :class:`DecodeLimits`, :class:`DecodedClip`, :class:`ProbeResult`,
  :class:`SamplingPlan` — frozen value types;
* :func:`decode_clip` / :func:`decode_clips` — pure, synchronous, in-process decoding;
* :func:`probe` — what a clip is (container, chosen stream, size, rotation, fps, packet scan);
* :func:`plan_uniform`, :func:`plan_stride`, :func:`plan_frames`, :func:`plan_clips` — sampling plans;
* :class:`DecoderPool` — decoding in resource-limited worker processes with a wall-clock timeout.
"""

from service.decoding.decoder import decode_clip, decode_clips
from service.decoding.pool import DecoderPool
from service.decoding.probe import probe
from service.decoding.sampling import plan_clips, plan_frames, plan_stride, plan_uniform
from service.decoding.types import (
    DEFAULT_CONTAINERS,
    DecodedClip,
    DecodeLimits,
    DecodeRequest,
    PacketScan,
    ProbeResult,
    SamplingPlan,
)

__all__ = [
    "DEFAULT_CONTAINERS",
    "DecodeLimits",
    "DecodeRequest",
    "DecodedClip",
    "DecoderPool",
    "PacketScan",
    "ProbeResult",
    "SamplingPlan",
    "decode_clip",
    "decode_clips",
    "plan_clips",
    "plan_frames",
    "plan_stride",
    "plan_uniform",
    "probe",
]
