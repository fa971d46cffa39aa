"""YuE's token layout (its ``codecmanipulator.py`` and ``infer.py``), as flat id streams.

Vocabulary: text tokens 0 … 31,999 (a LLaMA sentencepiece), specials from 32,000
(``<SOA>`` 32,001, ``<EOA>`` 32,002, ``<stage_1>`` 32,013, ``<xcodec>`` 32,016, ``<stage_2>``
32,017), and X-Codec codes from 45,334: code c of codebook k is 45,334 + 1,024·k + c.

- Stage 1: text prompt, ``<SOA> <xcodec>``, then per frame the codebook-0 code of the vocal
  track and of the instrumental track (vocal first).
- Stage 2: ``<SOA> <stage_1>``, the codebook-0 codes of every frame, ``<stage_2>``, then per
  frame codebooks 0 … 7 (codebook 0 given, 1 … 7 predicted by the model).

Times: text and markers have none (NaN); a stage-1 code has its frame's time (frame t at t / 50
s). In stage 2 the codebook-0 codes are the condition, not the model's output (YuE feeds them in
and generates the other seven): they are left untimed, so the 50 Hz grid carries only the
predicted codebooks 1 … 7; their losses are still computed and stay in the loss array.
"""

from __future__ import annotations

import re

import numpy as np

SOA, EOA = 32001, 32002
STAGE_1, XCODEC, STAGE_2 = 32013, 32016, 32017
CODE_OFFSET = 45334
CODEBOOK_SIZE = 1024
STAGE2_CODEBOOKS = 8
START_OF_SEGMENT = "[start_of_segment]"
INSTRUCTION = "Generate music from the given lyrics segment by segment."


def stage1_text(genre: str, lyrics: str) -> tuple[str, str, str]:
    """The three texts of a stage-1 prompt, tokenized one by one as YuE's inference does for
    its first segment: the instruction with the genre tags and all lyrics sections, the
    start-of-segment marker, and the first section. Sections are ``[tag] words``; each is
    written ``[tag]\\nwords\\n\\n``."""
    sections = [
        f"[{tag}]\n{words.strip()}\n\n" for tag, words in re.findall(r"\[(\w+)\]([^\[]*)", lyrics)
    ] or [f"[verse]\n{lyrics.strip()}\n\n"]
    head = f"{INSTRUCTION}\n[Genre] {genre}\n" + "\n".join(sections)
    return head, START_OF_SEGMENT, sections[0]


def offset_codes(codes: np.ndarray) -> np.ndarray:
    """Codes [K, T] (0 … 1,023) as LM ids: codebook k moved to 45,334 + 1,024·k."""
    codes = np.asarray(codes, dtype=np.int64)
    if codes.min(initial=0) < 0 or codes.max(initial=0) >= CODEBOOK_SIZE:
        raise ValueError(f"codes must lie in [0, {CODEBOOK_SIZE})")
    k = np.arange(codes.shape[0], dtype=np.int64)[:, None]
    return codes + CODE_OFFSET + CODEBOOK_SIZE * k


def stage1_ids(
    text_ids: list[int], vocal: np.ndarray, instrumental: np.ndarray, frame_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Ids and times of a stage-1 sequence from the prompt's ids and the two tracks'
    codebook-0 codes [T] each."""
    frames = min(len(vocal), len(instrumental))
    audio = np.empty(2 * frames, dtype=np.int64)
    audio[0::2] = offset_codes(np.asarray(vocal)[None, :frames])[0]  # both are codebook 0
    audio[1::2] = offset_codes(np.asarray(instrumental)[None, :frames])[0]
    head = np.array([*text_ids, SOA, XCODEC], dtype=np.int64)
    ids = np.concatenate([head, audio])
    times = np.repeat(np.arange(frames) / frame_rate, 2)
    return ids, np.concatenate([np.full(len(head), np.nan), times])


def stage2_ids(codes: np.ndarray, frame_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Ids and times of a stage-2 sequence from codes [8, T]."""
    if codes.shape[0] != STAGE2_CODEBOOKS:
        raise ValueError(f"stage 2 takes {STAGE2_CODEBOOKS} codebooks, got {codes.shape[0]}")
    lm = offset_codes(codes)  # [8, T]
    frames = lm.shape[1]
    head = np.array([SOA, STAGE_1, *lm[0], STAGE_2], dtype=np.int64)
    ids = np.concatenate([head, lm.T.reshape(-1)])  # frame by frame: cb0 … cb7
    times = np.repeat(np.arange(frames) / frame_rate, STAGE2_CODEBOOKS)
    times[0::STAGE2_CODEBOOKS] = np.nan  # the given codebook 0
    return ids, np.concatenate([np.full(len(head), np.nan), times])
