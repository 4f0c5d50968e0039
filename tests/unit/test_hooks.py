"""A profile's fault hooks and their undo (`fixtures.hooks`): the undo runs on every way
out, once, also after a fault command that failed half-way."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fixtures.hooks import HookError, primary_failed
from fixtures.lifecycle.reaper import Reaper
from fixtures.profile import Slo, TargetProfile


def _profile(log: Path, fail_exit: int = 0, restore_exit: int = 0) -> TargetProfile:
    def hook(word: str, status: int = 0) -> tuple[str, ...]:
        script = f"open({str(log)!r}, 'a').write({word!r} + ' '); raise SystemExit({status})"
        return (sys.executable, "-c", script)

    hooks = {
        "fail_primary": hook("fail", fail_exit),
        "restore_primary": hook("restore", restore_exit),
    }
    return TargetProfile("staging", log.parent / "p.toml", True, Slo(), hooks=hooks)


def test_the_restore_runs_on_the_way_out_of_a_failed_block(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with pytest.raises(RuntimeError), primary_failed(_profile(log)):
        raise RuntimeError("the rehearsal broke")
    assert log.read_text().split() == ["fail", "restore"]


def test_a_restore_taken_early_is_timed_and_not_run_again(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with primary_failed(_profile(log)) as restore:
        seconds = restore()
        assert restore() == seconds
    assert log.read_text().split() == ["fail", "restore"]
    assert seconds > 0


def test_a_restore_that_fails_is_tried_once_and_its_own_error_is_the_one_raised(
    tmp_path: Path,
) -> None:
    log = tmp_path / "log"
    failing = _profile(log, restore_exit=1)
    with (
        pytest.raises(HookError, match=r"restore_primary of staging .* exited 1"),
        primary_failed(failing) as restore,
    ):
        restore()
    assert log.read_text().split() == ["fail", "restore"]


def test_a_failure_command_that_fails_is_one_line_and_still_undone(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with pytest.raises(HookError) as raised, primary_failed(_profile(log, fail_exit=3)):
        pytest.fail("the block must not run")
    assert "[hooks] fail_primary of staging" in str(raised.value)
    assert "exited 3" in str(raised.value)
    assert log.read_text().split() == ["fail", "restore"]


def test_a_profile_without_failover_hooks_is_refused_naming_them(tmp_path: Path) -> None:
    profile = TargetProfile("staging", tmp_path / "p.toml", True, Slo())
    with pytest.raises(HookError, match=r"no \[hooks\] fail_primary and restore_primary"):
        primary_failed(profile).__enter__()


def test_a_run_that_dies_with_its_primary_failed_has_it_restored_by_the_reaper(
    tmp_path: Path,
) -> None:
    log = tmp_path / "log"
    reaper = Reaper()
    try:
        primary_failed(_profile(log), reaper).__enter__()  # and the harness dies in the block
    finally:
        reaper.close()  # its pipe closes: the reaper undoes what is still listed
    assert log.read_text().split() == ["fail", "restore"]
