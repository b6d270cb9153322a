"""The positional reader that the chunk walks use: the same bytes from a file as from memory."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from photometa._binary import reader_at

DATA = bytes(range(256)) * 40  # 10 KiB, bigger than one buffer refill


@pytest.mark.parametrize(("offset", "n"), [(0, 8), (8190, 8), (10_000, 500), (10_236, 100),
                                           (20_000, 4), (5, 0)])
def test_file_and_memory_agree(tmp_path: Path, offset: int, n: int) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    with path.open("rb") as f:
        from_file = reader_at(f)(offset, n)
    from_memory = reader_at(io.BytesIO(DATA))(offset, n)
    assert from_file == from_memory == DATA[offset:offset + n]


def test_reads_do_not_depend_on_the_stream_position(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    with path.open("rb") as f:
        read_at = reader_at(f)
        f.seek(777)
        assert read_at(3000, 4) == DATA[3000:3004]
        assert read_at(1, 2) == DATA[1:3]


def test_sees_bytes_still_in_a_write_buffer(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    with path.open("w+b") as f:
        f.write(DATA[:100])  # buffered, not yet on the file
        assert reader_at(f)(90, 20) == DATA[90:100]
