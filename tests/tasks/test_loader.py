from __future__ import annotations

import pytest

from curvebench.errors import ConfigError
from curvebench.tasks import available_tasks, load_task


def test_default_task_has_the_papers_numbers() -> None:
    task = load_task("noise-at-5s")
    assert "noise-at-5s" in available_tasks()
    (p,) = task.parsed_perturbations()
    assert (p.kind, p.color, p.mode, p.onset, p.duration, p.level_db) == (
        "noise",
        "white",
        "replace",
        5.0,
        2.0,
        -12.0,
    )
    assert task.grid_hz * p.onset == 250 and task.grid_hz * p.duration == 100
    assert task.clip_seconds * task.grid_hz == 750
    assert task.generated_top_k == (10, 50, 250)


def test_misspelled_key_or_bad_spec_fails_loudly(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: 1\ndescription: d\nperturbations: ['noise']\nclip_secs: 3\n")
    with pytest.raises(ConfigError, match="clip_secs"):
        load_task(str(bad))
    bad.write_text("name: x\nversion: 1\ndescription: d\nperturbations: ['noise:colour=red']\n")
    with pytest.raises(ConfigError, match="colour"):
        load_task(str(bad))
    with pytest.raises(ConfigError, match="unknown task"):
        load_task("nope")


def test_every_shipped_task_loads_and_the_paper_group_expands() -> None:
    from curvebench.tasks import expand_tasks, load_group

    for name in available_tasks():
        if load_group(name) is None:
            assert load_task(name).name == name
    tasks = expand_tasks(["paper"])
    assert [t.name for t in tasks] == [
        "noise-at-5s",
        "noise-length-sweep",
        "noise-colors",
        "noise-add",
        "rhythm-deletion",
        "velocity-change",
        "tempo-change",
        "bar-shuffle",
        "block-swap",
        "repeat",
        "drone",
        "silence",
    ]
    assert expand_tasks(["noise-at-5s", "paper"])[0].name == "noise-at-5s"
    assert len(expand_tasks(["noise-at-5s", "paper"])) == 12
    sweep = load_task("noise-length-sweep")
    assert [p.duration * sweep.grid_hz for p in sweep.parsed_perturbations()] == [
        5,
        10,
        50,
        100,
        150,
        200,
    ]
    colours = load_task("noise-colors").parsed_perturbations()
    assert {(p.color, p.level_db) for p in colours} == {
        (c, db) for c in ("white", "pink", "blue", "brown") for db in (-30.0, -20.0, -12.0)
    }


def test_the_assimilable_corruptions_act_on_the_papers_window() -> None:
    for name in ("repeat", "drone", "silence"):
        task = load_task(name)
        assert task.regions
        for p in task.parsed_perturbations():
            assert p.kind == name and p.window() == (5.0, 2.0)


def test_tasks_follow_the_papers_released_code() -> None:
    (tempo,) = load_task("tempo-change").parsed_perturbations()
    assert (tempo.fraction, tempo.min_length, tempo.max_length) == (0.8, 0.02, 0.04)
    assert (tempo.min_factor, tempo.max_factor) == (0.1, 8.0)
    (velocity,) = load_task("velocity-change").parsed_perturbations()
    assert (velocity.fraction, velocity.velocities) == (0.5, "paper")
    for name in ("noise-at-5s", "noise-length-sweep", "noise-colors", "noise-add"):
        task = load_task(name)
        assert task.version == (3 if name == "noise-length-sweep" else 2)
        assert all(
            (p.velocity, p.note_durations) == ("piece", "piece")
            for p in task.parsed_perturbations()
        )
    # the sweep nests its lengths in one 4 s draw per piece, as the paper's scripts cut it
    sweep = load_task("noise-length-sweep").parsed_perturbations()
    assert {p.nest for p in sweep} == {4.0} and len({p.seed_id for p in sweep}) == 1
