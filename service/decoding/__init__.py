"""Hardened, fast decoding of untrusted video uploads into the model's uint8 clips.

Public API (others code against these names):

* :class:`DecodeRequest`, :class:`DecodeLimits`, :class:`DecodedClip`, :class:`SamplingPlan` — frozen
  value types;
* :func:`decode_clips` — pure, synchronous, in-process decoding of a request's clip plan (``num_clips``
  clips × ``crops`` crops) from one demux pass; :func:`decode_clip` is the same for a one-clip request;
* :func:`plan_uniform`, :func:`plan_stride`, :func:`plan_frames`, :func:`plan_clips` — sampling plans;
* :class:`Decoder` — what the service needs from a decoder; :class:`DecoderPool` implements it: decoding
  in resource-limited worker processes with a wall-clock timeout.
"""

from service.decoding.decoder import decode_clip, decode_clips
from service.decoding.pool import DecoderPool
from service.decoding.protocol import Decoder
from service.decoding.sampling import plan_clips, plan_frames, plan_stride, plan_uniform
from service.decoding.types import (
    DEFAULT_CONTAINERS,
    DecodedClip,
    DecodeLimits,
    DecodeRequest,
    PacketScan,
    SamplingPlan,
)

__all__ = [
    "DEFAULT_CONTAINERS",
    "DecodeLimits",
    "DecodeRequest",
    "DecodedClip",
    "Decoder",
    "DecoderPool",
    "PacketScan",
    "SamplingPlan",
    "decode_clip",
    "decode_clips",
    "plan_clips",
    "plan_frames",
    "plan_stride",
    "plan_uniform",
]
