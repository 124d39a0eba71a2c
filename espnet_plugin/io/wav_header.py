"""The RIFF/WAVE header of a ``.wav`` checked against the bytes that follow it.

libsndfile reads whatever a truncated file still holds without a word (a 2 s clip cut after 60
bytes decodes as 8 samples), so :func:`check_wav` reads the header itself and compares::

    promised frames = data chunk size // block_align
    read frames     = min(data chunk size, file size - data offset) // block_align

``read < promised`` (a truncated file), a zero-length data chunk, a header cut before its data
chunk, an inconsistent ``block_align`` (!= channels * ceil(bits / 8)) and sample formats other
than PCM (1-32 bit), IEEE float (32/64 bit), A-law and mu-law (8 bit), also as
WAVE_FORMAT_EXTENSIBLE, raise :class:`espnet_plugin.errors.DataError` naming the file.

Streamed WAVs whose writer could not seek back to fill in the data size (0xFFFFFFFF, 0xFFFFFFFE,
or SoX's 0x7FFFF000, as Kaldi's wave reader) are read to the end of the file, as libsndfile does;
the RIFF size is not used (libsndfile reads the data size even when the RIFF size is 0). Files that are not RIFF/WAVE (FLAC, OGG, RF64, ...) are left to libsndfile.
"""
from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import BinaryIO, Optional

from espnet_plugin.errors import DataError

WAVE_PCM, WAVE_FLOAT, WAVE_ALAW, WAVE_MULAW, WAVE_EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE
# format tag -> (name, bits per sample it may have)
SUPPORTED = {
    WAVE_PCM: ("PCM", range(1, 33)),
    WAVE_FLOAT: ("IEEE float", (32, 64)),
    WAVE_ALAW: ("A-law", (8,)),
    WAVE_MULAW: ("mu-law", (8,)),
}
STREAM_DATA_SIZES = (0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFF000)


@dataclass(frozen=True)
class WavHeader:
    """What the header of a RIFF/WAVE file says, and how many bytes of audio follow it."""

    format_tag: int  # effective tag (the sub-format of WAVE_FORMAT_EXTENSIBLE)
    channels: int
    rate: int  # Hz
    bits: int  # per sample (container size)
    block_align: int  # bytes per frame
    data_offset: int  # first byte of the samples
    data_bytes: Optional[int]  # the data chunk's size; None: streamed (read to the end)
    available_bytes: int  # bytes after data_offset in the file

    @property
    def read_frames(self) -> int:
        n = self.available_bytes if self.data_bytes is None else min(self.data_bytes, self.available_bytes)
        return n // self.block_align

    @property
    def promised_frames(self) -> Optional[int]:
        return None if self.data_bytes is None else self.data_bytes // self.block_align


def _tag(raw: bytes) -> str:
    return repr(raw.decode("latin-1"))


def parse_wav_header(f: BinaryIO, size: int, where: str) -> Optional[WavHeader]:
    """Parse the chunks of a RIFF/WAVE stream up to its data chunk.

    Args:
        f: the stream, positioned at its first byte.
        size: its length in bytes.
        where: prefix of error messages (the utterance and file).
    Returns:
        The header, or None when the stream does not start with ``RIFF....WAVE``.
    Raises:
        DataError: a header cut short, a missing / malformed ``fmt `` chunk, an unsupported
            sample format or an inconsistent block size.
    """
    head = f.read(12)
    if head[:4] != b"RIFF" or (len(head) >= 12 and head[8:12] != b"WAVE"):
        return None
    if len(head) < 12:
        raise DataError(f"{where}: truncated WAV header: the file ends at byte {size}, inside the "
                        "12-byte RIFF header")
    fmt = None
    while True:
        pos = f.tell()
        ch = f.read(8)
        if len(ch) < 8:
            if not ch:
                raise DataError(f"{where}: truncated WAV: no 'data' chunk (the file ends at byte {size})")
            raise DataError(f"{where}: truncated WAV header: the file ends at byte {size}, inside the "
                            f"8-byte header of chunk {_tag(ch[:4])} at byte {pos}")
        tag, n = ch[:4], struct.unpack("<I", ch[4:])[0]
        if tag == b"data":
            break
        if pos + 8 + n > size:
            raise DataError(f"{where}: truncated WAV header: the file ends at byte {size}, inside "
                            f"chunk {_tag(tag)} (bytes {pos}-{pos + 8 + n})")
        if tag == b"fmt ":
            fmt = f.read(n)
        else:
            f.seek(n, io.SEEK_CUR)
        f.seek(n & 1, io.SEEK_CUR)  # chunks are padded to an even size
    if fmt is None:
        raise DataError(f"{where}: malformed WAV: no 'fmt ' chunk before the 'data' chunk")
    if len(fmt) < 16:
        raise DataError(f"{where}: malformed WAV: 'fmt ' chunk of {len(fmt)} bytes (at least 16)")
    tag_id, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag_id == WAVE_EXTENSIBLE:
        if len(fmt) < 40:
            raise DataError(f"{where}: malformed WAV: WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk of "
                            f"{len(fmt)} bytes (40 expected)")
        tag_id = struct.unpack("<H", fmt[24:26])[0]
    if tag_id not in SUPPORTED:
        raise DataError(f"{where}: unsupported sample format: WAV format tag 0x{tag_id:04x} (supported: "
                        "PCM 1-32 bit, IEEE float 32/64 bit, A-law, mu-law; convert it, e.g. with "
                        "sox in.wav -e signed -b 16 out.wav)")
    name, allowed_bits = SUPPORTED[tag_id]
    if bits not in allowed_bits:
        raise DataError(f"{where}: unsupported sample format: {name} with {bits} bits per sample")
    if channels == 0 or rate == 0:
        raise DataError(f"{where}: invalid WAV header: {channels} channels at {rate} Hz")
    if block_align != channels * ((bits + 7) // 8):
        raise DataError(f"{where}: inconsistent WAV header: block align {block_align} bytes, but "
                        f"{channels} channel(s) of {bits}-bit {name} take {channels * ((bits + 7) // 8)}")
    data_offset = pos + 8
    n = struct.unpack("<I", ch[4:])[0]
    return WavHeader(tag_id, channels, rate, bits, block_align, data_offset,
                     None if n in STREAM_DATA_SIZES else n, max(size - data_offset, 0))


def check_wav(f: BinaryIO, size: int, where: str) -> Optional[WavHeader]:
    """Check that a RIFF/WAVE stream holds every frame its header promises.

    Args:
        f: the stream (a file opened in binary mode or ``io.BytesIO``), at its first byte.
        size: its length in bytes.
        where: prefix of error messages (the utterance and file).
    Returns:
        The header, or None for streams that are not RIFF/WAVE.
    Raises:
        DataError: see :func:`parse_wav_header`; a truncated data chunk (promised and read
            frame counts in the message) or a data chunk of 0 frames.
    """
    h = parse_wav_header(f, size, where)
    if h is None:
        return None
    promised, got = h.promised_frames, h.read_frames
    if promised == 0:
        tail = f" ({h.available_bytes} bytes follow it)" if h.available_bytes else ""
        raise DataError(f"{where}: empty audio clip: zero-length WAV data chunk (0 frames promised, "
                        f"{got} read){tail}")
    if promised is not None and got < promised:
        raise DataError(
            f"{where}: truncated WAV: the header promises {promised} frames "
            f"({promised / h.rate:.3f} s) but the file holds {got} (data chunk cut after "
            f"{h.available_bytes} of {h.data_bytes} bytes)")
    if got == 0:
        raise DataError(f"{where}: empty audio clip: streamed WAV with 0 frames after its header")
    return h


def check_wav_file(path, where: str) -> Optional[WavHeader]:
    """:func:`check_wav` of a file on disk (None when it is not RIFF/WAVE)."""
    with open(path, "rb") as f:
        f.seek(0, io.SEEK_END)
        size = f.tell()
        f.seek(0)
        return check_wav(f, size, where)


def check_wav_bytes(data: bytes, where: str) -> Optional[WavHeader]:
    """:func:`check_wav` of a file's bytes (e.g. the output of a ``cmd |`` wav.scp entry)."""
    return check_wav(io.BytesIO(data), len(data), where)
