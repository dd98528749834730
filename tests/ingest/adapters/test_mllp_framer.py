"""The pure MLLP framer: partial reads, several frames per read, junk between frames, size limit."""

from __future__ import annotations

import pytest

from ingest.adapters.mllp import HEAD_BYTES, FrameTooLarge, MllpFramer, frame


def test_frames_split_across_reads_and_joined_in_one_read() -> None:
    data = frame(b"MSH|one") + b"\r\n" + frame(b"MSH|two") + frame(b"MSH|three")
    framer = MllpFramer(1024)
    got: list[bytes] = []
    for i in range(0, len(data), 3):
        got += framer.feed(data[i:i + 3])
    assert got == [b"MSH|one", b"MSH|two", b"MSH|three"]
    assert framer.pending_bytes == 0 and framer.skipped_bytes == 2
    assert MllpFramer(1024).feed(data) == got


def test_end_block_split_between_reads() -> None:
    framer = MllpFramer(1024)
    assert framer.feed(b"\x0bMSH|x\x1c") == []
    assert framer.feed(b"\r") == [b"MSH|x"]


def test_a_lone_0x1c_inside_data_is_not_an_end() -> None:
    assert MllpFramer(1024).feed(b"\x0bA\x1cB\x1c\r") == [b"A\x1cB"]


@pytest.mark.parametrize("chunks", [[b"\x0b" + b"x" * 2000], [b"\x0b" + b"x" * 600, b"x" * 600],
                                    [b"\x0b" + b"x" * 1500 + b"\x1c\r"]])
def test_too_large(chunks: list[bytes]) -> None:
    framer = MllpFramer(1024)
    with pytest.raises(FrameTooLarge):
        for chunk in chunks:
            framer.feed(chunk)


def test_too_large_keeps_the_head_for_the_dead_letter() -> None:
    with pytest.raises(FrameTooLarge) as err:
        MllpFramer(1024).feed(b"\x0bMSH|^~\\&|A|B" + b"x" * 6000)
    assert err.value.head.startswith(b"MSH|^~\\&|A|B") and len(err.value.head) == HEAD_BYTES == 4096
