"""Fuzz the MLLP framer (pure, incremental): chunking never changes the frames, junk never
invents a frame, and an oversize frame is refused with its buffer bounded by the limit."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.adapters.mllp import END_BLOCK, START_BLOCK, FrameTooLarge, MllpFramer, frame

FUZZ = settings(max_examples=150, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])
LIMIT = 4096

# payloads may hold anything but the end-block sequence (0x1C 0x0D) and the start block
_PAYLOAD = st.binary(max_size=600).map(lambda b: b.replace(END_BLOCK, b"").replace(START_BLOCK, b""))


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _feed_all(framer: MllpFramer, chunks: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    return out


@FUZZ
@given(st.lists(_PAYLOAD, max_size=6), st.lists(st.integers(0, 10_000), max_size=40),
       st.lists(st.sampled_from([b"", b"\r\n", b" ", b"\n", b"\x00"]), max_size=6))
def test_any_chunking_yields_the_same_frames(payloads: list[bytes], cuts: list[int], gaps: list[bytes]) -> None:
    stream = b"".join(frame(p) + (gaps[i] if i < len(gaps) else b"") for i, p in enumerate(payloads))
    framer = MllpFramer(LIMIT)
    assert _feed_all(framer, _split(stream, cuts)) == payloads
    assert framer.pending_bytes == 0


@FUZZ
@given(st.binary(max_size=2000).map(lambda b: b.replace(START_BLOCK, b"")))
def test_bytes_without_a_start_block_never_make_a_frame(junk: bytes) -> None:
    framer = MllpFramer(LIMIT)
    assert framer.feed(junk) == []
    assert framer.pending_bytes == 0, "junk between frames must not be buffered"


@FUZZ
@given(st.binary(max_size=3000), st.lists(st.integers(0, 10_000), max_size=30))
def test_arbitrary_stream_is_bounded_and_never_raises_anything_but_frame_too_large(
        data: bytes, cuts: list[int]) -> None:
    framer = MllpFramer(LIMIT)
    for chunk in _split(data, cuts):
        try:
            frames = framer.feed(chunk)
        except FrameTooLarge:
            frames = []
        assert all(len(f) <= LIMIT for f in frames)
        assert framer.pending_bytes <= LIMIT + 2


@pytest.mark.parametrize("chunk", [1, 7, 1000, 70_000])
def test_oversize_frame_is_refused_whatever_the_read_size(chunk: int) -> None:
    framer = MllpFramer(LIMIT)
    stream = frame(b"M" * (LIMIT * 3))
    with pytest.raises(FrameTooLarge):
        for start in range(0, len(stream), chunk):
            framer.feed(stream[start:start + chunk])
            assert framer.pending_bytes <= LIMIT + 2, "the framer buffered past its limit"
    # after the refusal the framer is usable again for the next, well-formed frame
    assert framer.feed(frame(b"MSH|ok")) in ([b"MSH|ok"], [])


def test_frame_of_exactly_the_limit_is_accepted() -> None:
    framer = MllpFramer(LIMIT)
    assert framer.feed(frame(b"x" * LIMIT)) == [b"x" * LIMIT]
