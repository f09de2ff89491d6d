"""README's settings reference names every setting, and nothing that is not one."""

from __future__ import annotations

import re

import pytest

from tests.deploy.conftest import REPO_ROOT


def env_names_in_readme() -> set[str]:
    text = (REPO_ROOT / "README.md").read_text()
    table_rows = [line for line in text.splitlines() if line.startswith("|")]
    return set(re.findall(r"`(VTSERVE_[A-Z0-9_]+)`", "\n".join(table_rows)))


def test_readme_settings_table_is_complete_and_current() -> None:
    from service.settings import CONFIG_ENV, ENV_PREFIX, Settings

    documented = env_names_in_readme()
    if not documented:
        pytest.skip("README.md has no settings table (rows naming `VTSERVE_*` variables) yet")
    expected = {ENV_PREFIX + name.upper() for name in Settings.model_fields if name != "config_file"}
    expected.add(CONFIG_ENV)  # the config file's path is read from VTSERVE_CONFIG
    assert expected - documented == set(), f"settings missing from README: {sorted(expected - documented)}"
    assert documented - expected == set(), (
        f"README documents unknown settings: {sorted(documented - expected)}"
    )
