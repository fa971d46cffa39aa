"""Convert public-domain scores of the music21 corpus to the embedded MIDI corpus.

Run once, with the ``dev`` extra installed (music21 is not a run-time dependency)::

    python scripts/build_corpus.py --out curvebench/data/embedded

It writes ``train.parquet``, ``validation.parquet`` and ``ood.parquet`` (one row per piece: the
MIDI bytes and its metadata) and ``manifest.jsonl`` (the same rows without the bytes). Pieces
that music21 fails to parse or write are recorded in ``failures.jsonl`` and skipped.

- training pool: Bach chorales and the folk-tune collections essenFolksong, oneills1850 and
  ryansMammoth, split 95/5 into train and validation by a hash of the piece id;
- ood: the art-music pieces of the corpus that are not in the training pool.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import signal
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger("build_corpus")

FOLK = {"essenFolksong": None, "oneills1850": "Francis O'Neill", "ryansMammoth": "William Ryan"}
OOD_COMPOSERS = {
    "beethoven": "Ludwig van Beethoven",
    "mozart": "Wolfgang Amadeus Mozart",
    "haydn": "Joseph Haydn",
    "chopin": "Frederic Chopin",
    "schubert": "Franz Schubert",
    "schumann_clara": "Clara Schumann",
    "schumann_robert": "Robert Schumann",
    "handel": "George Frideric Handel",
    "corelli": "Arcangelo Corelli",
    "cpebach": "Carl Philipp Emanuel Bach",
    "weber": "Carl Maria von Weber",
    "beach": "Amy Beach",
    "joplin": "Scott Joplin",
    "verdi": "Giuseppe Verdi",
    "webern": "Anton Webern",
    "schoenberg": "Arnold Schoenberg",
    "monteverdi": "Claudio Monteverdi",
    "palestrina": "Giovanni Pierluigi da Palestrina",
    "josquin": "Josquin des Prez",
    "luca": "Luca Marenzio",
    "ciconia": "Johannes Ciconia",
    "lusitano": "Vicente Lusitano",
}
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".abc")
# Large collections in the ood set are capped so that no composer dominates it.
OOD_CAP = {"palestrina": 30, "monteverdi": 30}
VALIDATION_FRACTION = 0.05
# Benchmarks use the first seconds of a piece; long movements are cut to their opening
# measures, which keeps the corpus small and music21's MIDI writer fast.
OOD_MEASURES = 48
TIMEOUT_S = 120
REPEAT_CLASSES = ("Repeat", "RepeatExpression", "RepeatBracket")


@dataclass(frozen=True)
class Job:
    """One piece to convert."""

    id: str
    split: str
    collection: str
    composer: str
    source: str
    abc_text: str | None = None
    measures: int | None = None
    """Keep only the first N measures (long art-music movements)."""


def corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def split_of(piece_id: str) -> str:
    digest = int(hashlib.sha256(piece_id.encode()).hexdigest()[:8], 16)
    return "validation" if digest / 0xFFFFFFFF < VALIDATION_FRACTION else "train"


def abc_tunes(path: Path) -> list[tuple[str, str]]:
    """Split an ABC collection into (reference number, text) per tune, header kept."""
    text = path.read_text(encoding="latin-1")
    parts = re.split(r"(?m)^(?=X:)", text)
    header, tunes = parts[0], parts[1:]
    out = []
    for tune in tunes:
        number = tune.split("\n", 1)[0][2:].strip() or str(len(out) + 1)
        out.append((number, header + tune))
    return out


def training_jobs(root: Path, essen_step: int) -> list[Job]:
    jobs = []
    for path in sorted((root / "bach").glob("bwv*.mxl")):
        if path.stem.endswith("-sc"):  # a second edition of the same chorale
            continue
        pid = f"bach/{path.stem}"
        rel = str(path.relative_to(root))
        jobs.append(Job(pid, split_of(pid), "bach-chorales", "Johann Sebastian Bach", rel))
    for collection, composer in FOLK.items():
        for path in sorted((root / collection).rglob("*.abc")):
            tunes = abc_tunes(path)
            if collection == "essenFolksong":
                tunes = tunes[::essen_step]
            for number, text in tunes:
                pid = f"{collection}/{path.stem}-{number}"
                rel = f"{path.relative_to(root)}#X:{number}"
                jobs.append(
                    Job(pid, split_of(pid), collection, composer or "traditional", rel, text)
                )
    return jobs


def ood_jobs(root: Path) -> list[Job]:
    jobs = []
    for folder, composer in OOD_COMPOSERS.items():
        paths = sorted(p for p in (root / folder).rglob("*") if p.suffix in SCORE_SUFFIXES)
        seen: set[str] = set()
        picked = []
        for path in paths:
            stem = str(path.relative_to(root).with_suffix(""))
            if stem in seen:
                continue
            seen.add(stem)
            picked.append(path)
        for path in picked[: OOD_CAP.get(folder)]:
            rel = str(path.relative_to(root))
            pid = f"{folder}/{path.relative_to(root / folder).with_suffix('')}"
            jobs.append(Job(pid, "ood", folder, composer, rel, measures=OOD_MEASURES))
    return jobs


def _timeout(signum: int, frame: object) -> None:
    raise TimeoutError(f"conversion took longer than {TIMEOUT_S} s")


def convert(job: Job) -> dict:
    """Parse one piece with music21 and return its MIDI bytes and metadata (or an error)."""
    warnings.simplefilter("ignore")
    from music21 import converter, corpus, midi, repeat, stream

    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(TIMEOUT_S)
    try:
        if job.abc_text is not None:
            score = converter.parse(job.abc_text, format="abc")
        else:
            score = corpus.parse(job.source)
        if isinstance(score, stream.Opus):
            score = score.scores[0]
        if job.measures is not None:
            score = score.measures(1, job.measures)
        title = (score.metadata.title if score.metadata else None) or job.id.split("/")[-1]
        try:
            data = midi.translate.music21ObjectToMidiFile(score).writestr()
        except repeat.ExpanderException:  # badly formed repeats: play it through as written
            for element in list(score.recurse().getElementsByClass(REPEAT_CLASSES)):
                element.activeSite.remove(element)
            data = midi.translate.music21ObjectToMidiFile(score).writestr()
    except Exception as exc:  # music21 raises many kinds; each failure is recorded
        return {"id": job.id, "error": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        signal.alarm(0)
    from symusic import Score

    seconds = Score.from_midi(data).to("second")
    n_notes = sum(len(t.notes) for t in seconds.tracks)
    if n_notes == 0:
        return {"id": job.id, "error": "no notes"}
    return {
        "id": job.id,
        "split": job.split,
        "collection": job.collection,
        "composer": job.composer,
        "title": str(title),
        "source": f"music21 corpus: {job.source}"
        + (f" (measures 1-{job.measures})" if job.measures else ""),
        "duration_s": round(float(seconds.end()), 3),
        "n_notes": n_notes,
        "sha256": hashlib.sha256(data).hexdigest(),
        "midi": data,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path("curvebench/data/embedded"))
    parser.add_argument("--essen-step", type=int, default=2, help="keep every N-th Essen tune")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    root = corpus_root()
    jobs = training_jobs(root, args.essen_step) + ood_jobs(root)
    log.info("converting %d pieces with %d workers", len(jobs), args.workers)
    rows, failures = [], []
    with ProcessPoolExecutor(args.workers) as pool:
        for i, row in enumerate(pool.map(convert, jobs, chunksize=16)):
            (failures if "error" in row else rows).append(row)
            if i % 500 == 0:
                log.info("%d / %d done, %d failed", i, len(jobs), len(failures))

    args.out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "validation", "ood"):
        part = sorted((r for r in rows if r["split"] == split), key=lambda r: r["id"])
        table = pa.Table.from_pylist(part)
        pq.write_table(table, args.out / f"{split}.parquet", compression="zstd")
        log.info("%s: %d pieces", split, len(part))
    with open(args.out / "manifest.jsonl", "w") as fh:
        for row in sorted(rows, key=lambda r: (r["split"], r["id"])):
            fh.write(json.dumps({k: v for k, v in row.items() if k != "midi"}) + "\n")
    with open(args.out / "failures.jsonl", "w") as fh:
        for row in sorted(failures, key=lambda r: r["id"]):
            fh.write(json.dumps(row) + "\n")
    log.info("wrote %d pieces, %d failures to %s", len(rows), len(failures), args.out)


if __name__ == "__main__":
    main()
