"""The time of every character of an ABC tune, from its unit length (L:), meter (M:) and tempo
(Q:).

Header lines (up to the first K:), field lines in the body (V:, M:, w:, …), inline fields
(``[Q:1/4=90]``), comments and whitespace have no musical time (NaN). A note, rest or chord is
timed at its onset, every character of it included (accidentals, octave marks, length); a bar
line at the moment it stands for (the start of the next bar); decorations, chord symbols, grace
notes, slurs, ties and tuplet marks belong to the note they precede (so they take its onset).
Each voice (V:) keeps its own clock from 0. Repeats are not unrolled: a tune is timed in the
order it is written.

Defaults where the tune gives none: L: from the meter as the ABC standard says (1/16 below 3/4,
else 1/8; 1/8 with no meter); Q: 1/4 = 120 (abc2midi's default); M: 4/4 for whole-bar rests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

DEFAULT_QPM = 120.0
"""Quarter notes per minute when the tune has no Q: field."""
_FIELD = re.compile(r"^([A-Za-z]):(.*)$")
_TEMPO = re.compile(r"(\d+)\s*/\s*(\d+)\s*=\s*(\d+(?:\.\d+)?)")
_NOTE = re.compile(r"(?:\^\^|\^|__|_|=)?[A-Ga-gzx][,']*(\d*)(/*)(\d*)")
_LENGTH = re.compile(r"(\d*)(/*)(\d*)")
_TUPLET_Q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}


def _fraction(text: str, default: Fraction) -> Fraction:
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        return default
    return value if value > 0 else default


def _length(digits: str, slashes: str, denominator: str) -> Fraction:
    """A note's length in units: ``3`` → 3, ``/`` → 1/2, ``//`` → 1/4, ``3/2`` → 3/2."""
    value = Fraction(int(digits)) if digits else Fraction(1)
    if slashes:
        value /= int(denominator) if denominator else 2 ** len(slashes)
    return value


@dataclass
class _State:
    """Where the tune is: unit length, meter, tempo and each voice's clock."""

    unit: Fraction | None = None
    meter: Fraction | None = None
    whole_seconds: float = 4 * 60.0 / DEFAULT_QPM
    voice: str = "1"
    clocks: dict[str, tuple[Fraction, float]] = field(default_factory=dict)
    tuplet: list[Fraction] = field(default_factory=list)
    broken: Fraction = Fraction(1)
    last: Fraction = Fraction(0)

    @property
    def unit_length(self) -> Fraction:
        """L:, or the standard's default from the meter."""
        if self.unit is not None:
            return self.unit
        return (
            Fraction(1, 16)
            if self.meter is not None and self.meter < Fraction(3, 4)
            else (Fraction(1, 8))
        )

    def now(self) -> tuple[Fraction, float]:
        return self.clocks.get(self.voice, (Fraction(0), 0.0))

    def advance(self, whole: Fraction) -> None:
        notes, seconds = self.now()
        self.clocks[self.voice] = (notes + whole, seconds + float(whole) * self.whole_seconds)

    def apply(self, key: str, value: str) -> None:
        if key == "L":
            self.unit = _fraction(value, Fraction(1, 8))
        elif key == "M":
            text = value.strip()
            self.meter = {"C": Fraction(1), "C|": Fraction(1)}.get(text) or _fraction(
                text, Fraction(1)
            )
        elif key == "Q":
            m = _TEMPO.search(value)
            if m:
                beat = Fraction(int(m.group(1)), int(m.group(2)))
                self.whole_seconds = 60.0 / (float(m.group(3)) * float(beat))
            elif value.strip().replace(".", "", 1).isdigit():  # old style: units per minute
                self.whole_seconds = 60.0 / (float(value) * float(self.unit_length))
        elif key == "V":
            self.voice = value.split()[0] if value.split() else "1"


@dataclass(frozen=True)
class AbcTimes:
    """Time of every character of a tune."""

    seconds: np.ndarray
    """float64 [len(text)]: seconds from the tune's Q:, NaN where a character has no time."""
    quarters: np.ndarray
    """float64 [len(text)]: the same moments in quarter notes (for a source tempo map)."""


def abc_times(text: str) -> AbcTimes:
    """Time each character of an ABC tune (see the module docstring for the rules)."""
    seconds = np.full(len(text), np.nan)
    quarters = np.full(len(text), np.nan)
    state = _State()
    in_body = False
    start = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        field_match = _FIELD.match(stripped)
        if not in_body or field_match or stripped.startswith("%"):
            if field_match:
                state.apply(field_match.group(1), field_match.group(2).split("%")[0])
                in_body = in_body or field_match.group(1) == "K"
        else:
            _time_music(line, start, state, seconds, quarters)
        start += len(line)
    return AbcTimes(seconds=seconds, quarters=quarters)


def _time_music(
    line: str, start: int, s: _State, seconds: np.ndarray, quarters: np.ndarray
) -> None:
    """Time the characters of one line of music."""
    pending: list[int] = []  # characters that belong to the next timed element

    def mark(lo: int, hi: int) -> None:
        notes, secs = s.now()
        for i in [*pending, *range(lo, hi)]:
            seconds[start + i], quarters[start + i] = secs, float(4 * notes)
        pending.clear()

    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c == "%":
            break
        if c in " \t\r\n\\":
            i += 1
        elif c == "[" and re.match(r"\[[A-Za-z]:", line[i:]):
            end = line.find("]", i)
            end = n - 1 if end < 0 else end
            s.apply(line[i + 1], line[i + 3 : end])
            i = end + 1
        elif c in "|:" or (c == "[" and i + 1 < n and line[i + 1] in "|123"):
            j = i + 1
            while j < n and line[j] in "|:]123,":
                j += 1
            mark(i, j)
            i = j
        elif c in '"!+{':
            close = {'"': '"', "!": "!", "+": "+", "{": "}"}[c]
            end = line.find(close, i + 1)
            end = n - 1 if end < 0 else end
            pending.extend(range(i, end + 1))
            i = end + 1
        elif c == "(" and i + 1 < n and line[i + 1].isdigit():
            m = re.match(r"\((\d)(?::(\d*))?(?::(\d*))?", line[i:])
            p = int(m.group(1))
            q = int(m.group(2)) if m.group(2) else _TUPLET_Q.get(p, 2)
            r = int(m.group(3)) if m.group(3) else p
            s.tuplet = [Fraction(q, p)] * r
            pending.extend(range(i, i + m.end()))
            i += m.end()
        elif c in "<>":
            j = i
            while j < n and line[j] == c:
                j += 1
            k = j - i
            long, short = 2 - Fraction(1, 2**k), Fraction(1, 2**k)
            first, second = (long, short) if c == ">" else (short, long)
            s.advance(s.last * (first - 1))  # stretch or shrink the note just played
            s.broken = second
            pending.extend(range(i, j))
            i = j
        elif c == "[":
            i = _chord(line, i, s, mark)
        elif c == "Z":
            m = _LENGTH.match(line, i + 1)
            bars = int(m.group(1)) if m.group(1) else 1
            mark(i, m.end())
            s.advance(bars * (s.meter or Fraction(1)))
            i = m.end()
        else:
            m = _NOTE.match(line, i)
            if m:
                mark(i, m.end())
                s.advance(_played(s, _length(m.group(1), m.group(2), m.group(3))))
                i = m.end()
            else:  # decorations (~ . H…Y), slurs, ties, spacers: part of the next element
                pending.append(i)
                i += 1
    if pending:  # a tie or slur at the end of a line: the moment of the next note
        mark(0, 0)


def _played(s: _State, units: Fraction) -> Fraction:
    """The duration in whole notes of a note of ``units``, after tuplet and broken rhythm."""
    value = units * s.unit_length * s.broken
    s.broken = Fraction(1)
    if s.tuplet:
        value *= s.tuplet.pop(0)
    s.last = value
    return value


def _chord(line: str, i: int, s: _State, mark) -> int:
    """Time a chord ``[CEG]2``: its onset for all of it, the first note's length times the
    length after the bracket."""
    end = line.find("]", i)
    end = len(line) - 1 if end < 0 else end
    inner = _NOTE.search(line, i + 1, end)
    units = _length(inner.group(1), inner.group(2), inner.group(3)) if inner else Fraction(1)
    m = _LENGTH.match(line, end + 1)
    if m.group(0):
        units *= _length(m.group(1), m.group(2), m.group(3))
    mark(i, m.end())
    s.advance(_played(s, units))
    return m.end()
