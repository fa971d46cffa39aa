"""Leaderboard submissions: a run directory (results.json + samples.jsonl.gz), validated and
copied onto a board.

Nothing is taken on trust: the schema is strict, the tasks must be the shipped ones, the samples
file must hash to ``samples_sha256``, and every aggregate (and every mean Δℓ curve) is recomputed
from the samples file with the run's own code, then compared with the stored number.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ValidationError

from curvebench.benchmark.aggregate import Analysis, analyse, with_empty_groups
from curvebench.benchmark.results import READ_VERSIONS, DatasetResult, Results
from curvebench.benchmark.samples import SampleLine
from curvebench.benchmark.samples import read_samples as _read_samples
from curvebench.data.audio import sha256_file
from curvebench.errors import DataError, first_error
from curvebench.leaderboard import protocol as protocol_rules
from curvebench.leaderboard.errors import SubmissionError
from curvebench.leaderboard.protocol import ProtocolError, check_protocol, check_protocol_name
from curvebench.tasks import TaskConfig, available_tasks, load_group, load_task

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
SAMPLES_FILE = "samples.jsonl.gz"
VERIFIED_DIR = "verified"
"""A board's folder of verification records, ``verified/<entry>.json``: written only by
``leaderboard verify --record`` (the maintainers' workflow), never by a submission, which
cannot place a file there (the workflow refuses a pull request that touches anything but its
own new ``submissions/<entry>/`` folder)."""


def verification_record(entry: Path) -> Path:
    """Where the verification record of a board's entry folder lies."""
    return entry.parent.parent / VERIFIED_DIR / f"{entry.name}.json"


SUBMISSIONS_DIR = "submissions"
REQUIRED = {"noise-at-5s": ("training", "generated", "ood")}
"""Tasks every submission must hold, with the dataset roles each must cover."""
TOLERANCE = 1e-6
"""Relative and absolute tolerance of a recomputed number."""
FREE_FIELDS = ("seed", "description", "paper")
"""Task config fields a run may differ in from the shipped task (the rest is the protocol)."""


def _run_dir(path: Path) -> Path:
    path = Path(path)
    run_dir = path.parent if path.is_file() else path
    if not (run_dir / RESULTS_FILE).is_file():
        raise SubmissionError(f"{path}: no {RESULTS_FILE} there; give a run folder or its file")
    if not (run_dir / SAMPLES_FILE).is_file():
        raise SubmissionError(f"{run_dir}: no {SAMPLES_FILE} beside {RESULTS_FILE}")
    return run_dir


_first_error = first_error


def _load_results(path: Path) -> Results:
    try:
        text = path.read_text()
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(data, dict) or "schema_version" not in data:
        raise SubmissionError(f"{path}: no schema_version; is this a curvebench results.json?")
    if data["schema_version"] not in READ_VERSIONS:
        raise SubmissionError(
            f"{path}: schema_version {data['schema_version']!r} is not one this curvebench "
            f"reads ({', '.join(map(str, READ_VERSIONS))}); re-run with this curvebench"
        )
    try:
        return Results.model_validate_json(text, strict=True)
    except ValidationError as exc:
        raise SubmissionError(f"{path}: bad results file at {_first_error(exc)}") from exc


def _check_tasks(path: Path, results: Results) -> list[TaskConfig]:
    """The submitted task configs, each checked against the shipped task of its name."""
    config = results.config
    names = set(config.tasks) | set(config.task_versions) | set(results.results)
    tasks = []
    for name in sorted(names):
        if name not in available_tasks() or load_group(name) is not None:
            raise SubmissionError(f"{path}: task {name!r} is not a task shipped with curvebench")
        shipped = load_task(name)
        version = config.task_versions.get(name)
        if version != shipped.version:
            raise SubmissionError(
                f"{path}: task {name} version {version} is not the known version "
                f"{shipped.version}; re-run with this curvebench"
            )
        task = config.tasks.get(name)
        if task is None:
            raise SubmissionError(f"{path}: config.tasks has no {name}")
        ours, theirs = shipped.model_dump(), task.model_dump()
        for key in ours:
            if key not in FREE_FIELDS and ours[key] != theirs[key]:
                raise SubmissionError(
                    f"{path}: task {name} v{version}: {key} is {theirs[key]!r}, "
                    f"not the shipped {ours[key]!r}"
                )
        tasks.append(task)
    for name, roles in REQUIRED.items():
        if name not in results.results:
            raise SubmissionError(f"{path}: required task {name} is missing; run it too")
        present = {r.role for r in results.results[name].values()}
        missing = [r for r in roles if r not in present]
        if missing:
            raise SubmissionError(
                f"{path}: task {name} lacks dataset role(s) {', '.join(missing)}; "
                f"run it on {', '.join(roles)} data"
            )
    return tasks


def read_samples(path: Path, max_lines: int | None = None) -> list[SampleLine]:
    """The lines of a submission's samples file (at most ``max_lines``), read under the
    budget of :func:`~curvebench.benchmark.samples.iter_samples` in bounded memory;
    SubmissionError names the first bad one."""
    try:
        return _read_samples(path, max_lines, budget=True)
    except DataError as exc:
        raise SubmissionError(str(exc)) from exc


def _check_counts(path: Path, results: Results, lines: list[SampleLine]) -> None:
    roles = {d.name: d.role for d in results.datasets}
    counts: Counter[tuple[str, str, bool]] = Counter()
    for line in lines:
        task, dataset = line.task, line.dataset
        if dataset not in results.results.get(task, {}):
            raise SubmissionError(f"{path}: a line of {task} / {dataset} is not in results.json")
        if line.role != roles.get(dataset):
            raise SubmissionError(f"{path}: {task} / {dataset}: role differs from results.json")
        if (line.record is None) != line.is_original:
            raise SubmissionError(
                f"{path}: {task} / {dataset} / {line.piece_id}: a perturbed copy needs its "
                "record, an original has none"
            )
        counts[task, dataset, line.is_original] += 1
    for task, per_dataset in results.results.items():
        for dataset, result in per_dataset.items():
            if roles.get(dataset) != result.role:
                raise SubmissionError(f"{path}: dataset {dataset} is not listed with that role")
            for field, original in (("n_pairs", False), ("n_originals", True)):
                n = counts[task, dataset, original]
                if getattr(result, field) != n:
                    raise SubmissionError(
                        f"{path}: {task} / {dataset}: {field} is {getattr(result, field)} "
                        f"but {SAMPLES_FILE} has {n} such lines"
                    )


def _same(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        a = None
    if isinstance(b, float) and math.isnan(b):
        b = None
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return a == b


def _check_aggregates(
    path: Path, results: Results, tasks: list[TaskConfig], lines: list[SampleLine]
) -> Analysis:
    try:
        analysis = analyse(lines, tasks)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise SubmissionError(f"{path}: cannot recompute the results ({exc!r})") from exc
    datasets = [(d.name, d.role) for d in results.datasets]
    expected = with_empty_groups(analysis.results, tasks, datasets, results.skipped)
    for task, per_dataset in results.results.items():
        for dataset, stored in per_dataset.items():
            fresh = expected.get(task, {}).get(dataset)
            if fresh is None:
                raise SubmissionError(f"{path}: {task} / {dataset} has no lines in {SAMPLES_FILE}")
            for field in DatasetResult.model_fields:
                ours, theirs = getattr(fresh, field), getattr(stored, field)
                if not _same(theirs, ours):
                    raise SubmissionError(
                        f"{path}: {task} / {dataset}: {field} is {theirs} in {RESULTS_FILE} "
                        f"but {ours} recomputed from {SAMPLES_FILE}"
                    )
            curve = analysis.curves.get(task, {}).get(dataset)
            if not _same(results.curves.get(task, {}).get(dataset), curve):
                raise SubmissionError(
                    f"{path}: {task} / {dataset}: curves differ from the mean Δℓ recomputed "
                    f"from {SAMPLES_FILE}"
                )
    ours = None if analysis.validity is None else analysis.validity.to_dict()
    theirs = None if results.validity is None else results.validity.to_dict()
    if not _same(theirs, ours):
        raise SubmissionError(
            f"{path}: validity differs from the table recomputed from {SAMPLES_FILE} (every "
            "metric's agreement with the truth is recomputed, never taken as stated)"
        )
    return analysis


def _check_lines(path: Path, lines: list[SampleLine], analysis: Analysis) -> None:
    """Each whole line equals the line annotated from its raw fields (every derived number:
    abs_loss, each item metric's score, regions, features, detectors, ...)."""
    expected = analysis.annotated(lines)
    for i, (line, ours) in enumerate(zip(lines, expected, strict=True), 1):
        for field in type(line).model_fields:
            theirs, mine = getattr(line, field), getattr(ours, field)
            if theirs is mine:  # a raw field, carried over as it is
                continue
            if not _same(_plain(theirs), _plain(mine)):
                raise SubmissionError(
                    f"{path}: line {i} of {SAMPLES_FILE} ({line.task} / {line.dataset} / "
                    f"{line.piece_id}): {field} does not follow from its losses"
                )


def _plain(value: object) -> object:
    """A pydantic value as plain lists and dicts."""
    return value.model_dump() if isinstance(value, BaseModel) else value


def validate_submission(run_dir: Path) -> Results:
    """The results of a run directory, after every check; SubmissionError names the first
    failure (schema, task versions, required roles, hash, counts, the board's protocol
    (``protocol.ENFORCED``), a recomputed number)."""
    protocol = protocol_rules.ENFORCED
    run_dir = _run_dir(run_dir)
    results_path, samples_path = run_dir / RESULTS_FILE, run_dir / SAMPLES_FILE
    results = _load_results(results_path)
    if protocol is not None:
        try:
            check_protocol_name(results_path, results, protocol)
        except ProtocolError as exc:
            raise SubmissionError(str(exc)) from exc
    tasks = _check_tasks(results_path, results)
    digest = sha256_file(samples_path)
    if digest != results.samples_sha256:
        raise SubmissionError(
            f"{samples_path}: sha256 {digest[:16]}… differs from samples_sha256 "
            f"{results.samples_sha256[:16]}… in {RESULTS_FILE}; submit the files the run wrote"
        )
    expected = sum(
        r.n_pairs + r.n_originals for per in results.results.values() for r in per.values()
    )
    lines = read_samples(samples_path, max_lines=expected)
    _check_counts(results_path, results, lines)
    if protocol is not None:
        try:
            check_protocol(results_path, results, tasks, lines, protocol)
        except ProtocolError as exc:
            raise SubmissionError(str(exc)) from exc
    analysis = _check_aggregates(results_path, results, tasks, lines)
    _check_lines(results_path, lines, analysis)
    log.info("%s: valid submission of %s", run_dir, results.model.spec)
    return results


def safe_name(results: Results) -> str:
    """Folder name of a submission: model name and fingerprint[:12], only [a-z0-9-]."""
    name = re.sub(r"[^a-z0-9]+", "-", results.model.name.lower()).strip("-")[:40] or "model"
    fingerprint = re.sub(r"[^a-z0-9]+", "", results.model.fingerprint.lower())[:12] or "none"
    return f"{name.strip('-')}-{fingerprint}"


def submissions(board_dir: Path, complete: bool = False) -> list[Path]:
    """The submission folders of a board, sorted by name (hidden folders, such as a copy in
    progress, left out); ``complete``: only those holding both files."""
    folder = Path(board_dir) / SUBMISSIONS_DIR
    if not folder.is_dir():
        return []
    found = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if complete:
        found = [p for p in found if (p / RESULTS_FILE).is_file() and (p / SAMPLES_FILE).is_file()]
    return found


def submit(run_dir_or_results_json: Path, board_dir: Path) -> Path:
    """Validate a run and copy its two files into ``board_dir/submissions/<safe name>/``."""
    run_dir = _run_dir(Path(run_dir_or_results_json))
    results = validate_submission(run_dir)
    for existing in submissions(board_dir, complete=True):
        try:
            other = _load_results(existing / RESULTS_FILE)
        except SubmissionError:
            continue  # a broken entry (build reports it) is no duplicate
        if (
            other.model.fingerprint == results.model.fingerprint
            and other.config.task_versions == results.config.task_versions
        ):
            raise SubmissionError(
                f"{run_dir}: already on the board as {existing.name} (same model fingerprint "
                "and task versions)"
            )
    base, name = Path(board_dir) / SUBMISSIONS_DIR, safe_name(results)
    folder, n = base / name, 1
    while folder.exists():  # same model, other task versions
        n += 1
        folder = base / f"{name}-{n}"
    # copied whole into a hidden folder, then renamed: a kill never leaves half an entry
    base.mkdir(parents=True, exist_ok=True)
    incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=base))
    try:
        for file in (RESULTS_FILE, SAMPLES_FILE):
            shutil.copyfile(run_dir / file, incoming / file)
        incoming.rename(folder)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    log.info("%s: submitted as %s", run_dir, folder)
    return folder
