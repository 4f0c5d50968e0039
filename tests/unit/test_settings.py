"""One setting, one name: flag beats environment beats default, and falsy values survive."""

from __future__ import annotations

from plugins.settings import resolve_settings


def test_defaults_are_local_and_auto() -> None:
    assert resolve_settings(None, None, environ={}) == resolve_settings("local", "auto", {})


def test_environment_beats_default() -> None:
    settings = resolve_settings(
        None, None, {"RELIABILITY_TARGET": "s.toml", "RELIABILITY_BACKEND": "native"}
    )
    assert (settings.target, settings.backend) == ("s.toml", "native")


def test_flag_beats_environment() -> None:
    settings = resolve_settings(
        "a.toml", "containers", {"RELIABILITY_TARGET": "s.toml", "RELIABILITY_BACKEND": "native"}
    )
    assert (settings.target, settings.backend) == ("a.toml", "containers")


def test_empty_flag_is_kept_not_replaced_by_default() -> None:
    assert resolve_settings("", None, {}).target == ""
