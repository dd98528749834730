"""MllpServer's frame deadline (slow-loris): real sockets on 127.0.0.1, a trivial in-process handler."""

from __future__ import annotations

import asyncio

from ingest.adapters.mllp import START_BLOCK, MllpServer, MllpSettings, Peer, frame


async def _echo_ack(payload: bytes, _peer: Peer) -> bytes:
    return b"MSH|^~\\&|ACK\rMSA|AA|" + payload[-4:] + b"\r"


async def _dribble(port: int, data: bytes, pause_s: float, give_up_s: float) -> bool:
    """Send `data` a byte at a time; True when the server closes the connection before we finish."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + give_up_s
    try:
        for byte in data:
            if loop.time() > stop_at:
                return False
            try:
                writer.write(bytes([byte]))
                await writer.drain()
                if await asyncio.wait_for(reader.read(1), pause_s) == b"":
                    return True
            except TimeoutError:
                continue
            except ConnectionError:
                return True
        return False
    finally:
        writer.close()


def test_a_frame_dribbled_slower_than_the_frame_deadline_is_cut_off() -> None:
    reasons: list[str] = []

    async def scenario() -> bool:
        settings = MllpSettings(port=0, idle_timeout_s=5.0, frame_timeout_s=1.0)
        server = MllpServer(_echo_ack, settings, on_frame_error=reasons.append)
        await server.start()
        try:
            # each byte arrives well inside idle_timeout_s, so only the frame deadline can stop this sender
            return await _dribble(server.port, START_BLOCK + b"MSH|^~\\&|" + b"X" * 200, 0.2, 30.0)
        finally:
            await server.stop()

    assert asyncio.run(scenario()), "a dribbling sender kept its connection"
    assert reasons == ["frame_timeout"]


def test_frames_on_a_long_lived_connection_each_get_their_own_deadline() -> None:
    async def scenario() -> list[bytes]:
        settings = MllpSettings(port=0, idle_timeout_s=5.0, frame_timeout_s=1.0)
        server = MllpServer(_echo_ack, settings)
        await server.start()
        acks: list[bytes] = []
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            for i in range(3):  # the connection outlives several frame deadlines: only frames are timed
                writer.write(frame(b"MSH|^~\\&|M%03d" % i))
                await writer.drain()
                acks.append(await asyncio.wait_for(reader.readuntil(b"\x1c\r"), 10))
                await asyncio.sleep(0.7)
            writer.close()
        finally:
            await server.stop()
        return acks

    acks = asyncio.run(scenario())
    assert [b"MSA|AA|M%03d" % i in ack for i, ack in enumerate(acks)] == [True, True, True]
