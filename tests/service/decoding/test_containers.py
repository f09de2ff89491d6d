"""The container allowlist: accepted containers decode (every codec family we expect in them), and
demuxers outside the list are refused even when they hold perfectly good video."""

from __future__ import annotations

import pytest

from service.decoding import DecodeLimits, DecodeRequest, decode_clip
from service.errors import UnsupportedMedia
from tests.service.decoding.synth import encode_clip

REQUEST = DecodeRequest(num_frames=4, short_side=32, crop_size=32)
ACCEPTED = [
    ("mp4", "libx264", "mov,mp4,m4a,3gp,3g2,mj2"),
    ("mov", "mjpeg", "mov,mp4,m4a,3gp,3g2,mj2"),
    ("matroska", "libx265", "matroska,webm"),
    ("webm", "libvpx", "matroska,webm"),
    ("webm", "libvpx-vp9", "matroska,webm"),
    ("avi", "mpeg4", "avi"),
    ("mpegts", "mpeg2video", "mpegts"),
    ("mpegts", "libx264", "mpegts"),
]
REFUSED = [("flv", "libx264"), ("nut", "mpeg4"), ("ivf", "libvpx-vp9"), ("h264", "libx264"), ("gif", "gif")]


def _clip(container: str, codec: str) -> bytes:
    pix_fmt = {"mjpeg": "yuvj420p", "gif": "rgb8"}.get(codec, "yuv420p")
    options = {"x265-params": "log-level=none"} if codec == "libx265" else None
    return encode_clip(container=container, codec=codec, pix_fmt=pix_fmt, frames=12, gop=5, options=options)


@pytest.mark.parametrize(
    ("container", "codec", "demuxer"), ACCEPTED, ids=[f"{c}-{k}" for c, k, _ in ACCEPTED]
)
def test_accepted_containers_decode(container: str, codec: str, demuxer: str) -> None:
    clip = decode_clip(_clip(container, codec), REQUEST, DecodeLimits())
    assert clip.container == demuxer
    assert clip.frame_count == 12 and clip.indices == (1, 4, 7, 10)
    assert clip.frames.shape == (4, 32, 32, 3)


@pytest.mark.parametrize(("container", "codec"), REFUSED, ids=[c for c, _ in REFUSED])
def test_containers_outside_the_allowlist_are_refused(container: str, codec: str) -> None:
    data = _clip(container, codec)
    with pytest.raises(UnsupportedMedia):
        decode_clip(data, REQUEST, DecodeLimits())
    # ... and the allowlist is what refuses them: admitted, the same bytes decode
    admitted = DecodeLimits(containers=(*DecodeLimits().containers, container))
    assert decode_clip(data, REQUEST, admitted).frames.shape == (4, 32, 32, 3)
