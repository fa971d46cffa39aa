"""The board's protocol, checked on submission: everything a results file states about how it
was made is re-derived from the protocol (the tasks, the sample of pieces, the seeds, each
perturbation's window) and compared, so a run made another way, or edited after the fact, is
refused with the first difference named."""

from __future__ import annotations

from pathlib import Path

from symusic import Score

from curvebench.benchmark.results import Results
from curvebench.benchmark.samples import SampleLine
from curvebench.benchmark.windows import effective_stride
from curvebench.data.files import DEFAULT_LIMITS
from curvebench.data.piece import Piece
from curvebench.data.sources import embedded_specs, iter_pieces, load_split
from curvebench.data.timing import clip_seconds
from curvebench.errors import CurvebenchError
from curvebench.leaderboard.errors import SubmissionError
from curvebench.leaderboard.policy import submitted_spec
from curvebench.perturbations import (
    Perturbation,
    PerturbationRecord,
    derive_seed,
    parse_perturbation,
)
from curvebench.tasks import TaskConfig, load_group

BOARD_PROTOCOL = "board"
"""The protocol group every submission to the board must follow."""
ENFORCED: str | None = BOARD_PROTOCOL
"""The protocol submissions are checked against (read at each check; None: none)."""


class ProtocolError(CurvebenchError):
    """A run that does not follow the board's protocol."""


def check_protocol_name(path: Path, results: Results, group: str) -> None:
    """ProtocolError unless the results say they follow the protocol group ``group``."""
    shipped = load_group(group)
    if shipped is None or shipped.protocol is None:
        raise ProtocolError(f"{group}: not a protocol group")
    protocol, config = shipped.protocol, results.config
    if config.protocol != shipped.name or config.protocol_version != protocol.version:
        raise ProtocolError(
            f"{path}: not a run of the {shipped.name} protocol v{protocol.version} "
            f"(it says {config.protocol} v{config.protocol_version}); run "
            f"`curvebench run --task {shipped.name} --model SPEC`"
        )


def check_protocol(
    path: Path, results: Results, tasks: list[TaskConfig], lines: list[SampleLine], group: str
) -> None:
    """ProtocolError naming the first way the run departs from the protocol group ``group``."""
    check_protocol_name(path, results, group)
    try:
        submitted_spec(results.model.spec, path)
    except SubmissionError as exc:
        raise ProtocolError(str(exc)) from exc
    shipped = load_group(group)
    protocol, config = shipped.protocol, results.config
    if {t.name for t in tasks} != set(shipped.group):
        raise ProtocolError(
            f"{path}: its tasks are not the protocol's ({', '.join(shipped.group)})"
        )
    seeds = {t.name: t.seed for t in tasks if t.seed != protocol.seed}
    if seeds:
        name, seed = next(iter(seeds.items()))
        raise ProtocolError(
            f"{path}: task {name} has seed {seed}, not the protocol's {protocol.seed}"
        )
    default_stride = effective_stride(results.model.context_length, None)
    if config.stride != default_stride:
        raise ProtocolError(
            f"{path}: scored with stride {config.stride}; the protocol's is the default, "
            f"{default_stride} for a context of {results.model.context_length}"
        )
    if config.limit != protocol.limit or config.seed != protocol.seed:
        raise ProtocolError(
            f"{path}: limit {config.limit} and seed {config.seed}, not the protocol's "
            f"{protocol.limit} and {protocol.seed}"
        )
    ks = sorted({k for t in tasks for k in t.generated_top_k})
    expected: dict[str, set[str]] = {}
    sample: dict[str, dict[str, Piece]] = {}
    for info in results.datasets:
        if info.name in protocol.datasets:
            if info.content_sha256 != protocol.datasets[info.name]:
                raise ProtocolError(f"{path}: dataset {info.name} is not the pinned sample")
            sample[info.name] = protocol_pieces(info.name, protocol.limit, protocol.seed)
            expected[info.name] = set(sample[info.name])
        elif info.generated is not None:
            g = info.generated
            own = g.generator == results.model.spec or g.fallback is not None
            if not own or g.seed != protocol.seed or g.n != protocol.limit or g.top_k not in ks:
                raise ProtocolError(
                    f"{path}: dataset {info.name} was not drawn by the model itself with the "
                    f"protocol's seed, {protocol.limit} pieces and top-k in {ks}"
                )
            expected[info.name] = {f"k{g.top_k}/{i:04d}" for i in range(g.n)}
        else:
            raise ProtocolError(f"{path}: dataset {info.name} is not part of the protocol")
        if info.n_pieces != len(expected[info.name]):
            raise ProtocolError(f"{path}: dataset {info.name}: n_pieces {info.n_pieces}")
    if results.model.modality == "audio" and protocol.render:
        check_render(path, results, protocol.render)
    missing = set(protocol.datasets) - set(expected)
    if missing:
        raise ProtocolError(f"{path}: the protocol's dataset {sorted(missing)[0]} is missing")
    _check_items(path, results, tasks, lines, expected)
    _check_records(path, results, tasks, lines, sample)


def check_render(path: Path, results: Results, pinned: dict[str, str | float]) -> None:
    """ProtocolError unless every dataset of MIDI pieces an audio model heard was rendered as
    the protocol pins it (soundfont by hash, gain, level)."""
    for info in results.datasets:
        if info.generated is not None:
            continue  # the model's own audio, never rendered
        renders = info.render or []
        if not renders:
            raise ProtocolError(
                f"{path}: dataset {info.name} records no render; the protocol pins "
                f"{pinned['soundfont']} (re-run with this curvebench)"
            )
        for render in renders:
            for key, value in pinned.items():
                if getattr(render, key) != value:
                    raise ProtocolError(
                        f"{path}: dataset {info.name} was rendered with {key} "
                        f"{getattr(render, key)!r}, the protocol's is {value!r}"
                    )


def _check_items(
    path: Path,
    results: Results,
    tasks: list[TaskConfig],
    lines: list[SampleLine],
    expected: dict[str, set[str]],
) -> None:
    """Each task's originals are the whole sample (less the pieces recorded as skipped, whole
    or in every copy), and every perturbed line's record is the one its perturbation spec
    gives."""
    by_name = {t.name: t for t in tasks}
    # a piece counts as skipped when it, or one perturbed copy of it, is recorded as skipped
    skipped = {(s.task, s.dataset, s.piece) for s in results.skipped if s.task is not None}
    seen: dict[tuple[str, str], set[str]] = {}
    for line in lines:
        task = by_name[line.task]
        if line.is_original:
            seen.setdefault((line.task, line.dataset), set()).add(line.piece_id)
            continue
        if line.variant not in {parse_perturbation(p).spec_id for p in task.perturbations}:
            raise ProtocolError(f"{path}: {line.task}: {line.variant} is not one of its specs")
        spec, record = parse_perturbation(line.variant), line.record
        window = spec.window()
        if record.kind != spec.kind or (
            window is not None and (record.onset_s, record.duration_s) != tuple(window)
        ):
            raise ProtocolError(
                f"{path}: {line.task}/{line.dataset}/{line.piece_id}: its record (kind "
                f"{record.kind}, onset {record.onset_s}, duration {record.duration_s}) is not "
                f"what {line.variant} gives"
            )
    for task in tasks:
        for dataset, ids in expected.items():
            role = next(d.role for d in results.datasets if d.name == dataset)
            if role not in task.roles:
                continue
            have = seen.get((task.name, dataset), set())
            lost = {i for i in ids - have if (task.name, dataset, i) not in skipped}
            extra = have - ids
            if lost or extra:
                which = sorted(lost or extra)[0]
                raise ProtocolError(
                    f"{path}: {task.name}/{dataset}: piece {which} is "
                    f"{'missing (and not recorded as skipped)' if lost else 'not in the sample'}"
                )


def protocol_pieces(name: str, limit: int, seed: int) -> dict[str, Piece]:
    """The protocol's sample of an embedded dataset, read from the package, by piece id."""
    spec = next(s for s in embedded_specs() if s.name == name)
    return {p.id: p for p in iter_pieces(spec, load_split(spec), limit, seed)}


def _check_records(
    path: Path,
    results: Results,
    tasks: list[TaskConfig],
    lines: list[SampleLine],
    sample: dict[str, dict[str, Piece]],
) -> None:
    """Each perturbed copy of a protocol dataset's piece has the record its perturbation gives
    when rebuilt from the task, its seed and the piece read from the package: every field
    (onset, duration, notes removed and added, whether tokens are preserved). A waveform
    recipe's record (an audio model's noise) needs the render and is compared by ``verify``
    on the copies it re-scores, as are generated pieces' (drawn by the model). ``sample``:
    the protocol's pieces of each embedded dataset, by id."""
    by_name = {t.name: t for t in tasks}
    audio = results.model.modality == "audio"
    clipped: dict[tuple[str, str, float], Score] = {}
    for line in lines:
        if line.is_original or line.dataset not in sample:
            continue
        perturbation = parse_perturbation(line.variant)
        if audio and perturbation.acts_on_audio:
            continue
        task = by_name[line.task]
        piece = sample[line.dataset][line.piece_id]  # the item set is checked before
        key = (line.dataset, line.piece_id, task.clip_seconds)
        if key not in clipped:
            clipped[key] = clip_seconds(piece.score(DEFAULT_LIMITS), task.clip_seconds)
        rebuilt = rebuild_record(perturbation, clipped[key], task.seed, piece.sha256)
        field = first_difference(line.record, rebuilt)
        if field is not None:
            raise ProtocolError(
                f"{path}: {line.task}/{line.dataset}/{line.piece_id}/{line.variant}: its "
                f"record's {field} is {getattr(line.record, field)!r}, the perturbation "
                f"rebuilt from the task's seed and the piece gives {getattr(rebuilt, field)!r}"
            )


def rebuild_record(
    perturbation: Perturbation, clipped: Score, task_seed: int, piece_sha256: str
) -> PerturbationRecord:
    """The record a note-level perturbation gives on a clipped piece, as a run draws it."""
    seed = derive_seed(task_seed, piece_sha256, perturbation.seed_id)
    return perturbation.apply(clipped, seed)[1]


def first_difference(stated: PerturbationRecord, rebuilt: PerturbationRecord) -> str | None:
    """The first field in which a stated record differs from the rebuilt one (None: same)."""
    for field in type(rebuilt).__dataclass_fields__:
        if getattr(stated, field) != getattr(rebuilt, field):
            return field
    return None
