"""The directory section of the settings and the group map (pure parts of parley.directory;
sign-in against a real slapd is tested in tests/web/test_directory.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.config import ConfigError, DirectorySettings, Settings
from parley.directory import authenticate_blocking, map_groups, normal_dn

GROUPS = {"CN=Agents, OU=Groups,DC=example,DC=org": {"roles": ["agent"], "teams": ["sales"]},
          "cn=leads,ou=groups,dc=example,dc=org": {"roles": ["supervisor", "agent"],
                                                   "teams": ["support", "sales"]}}


def _settings(**more: object) -> DirectorySettings:
    return DirectorySettings.model_validate({"urls": ["ldap://127.0.0.1:1"],
                                             "user_search_base": "ou=people,dc=example,dc=org",
                                             "groups": GROUPS, **more})


def test_groups_map_to_roles_and_teams_whatever_the_case_and_spacing() -> None:
    settings = _settings()
    assert normal_dn("CN=Agents, OU=Groups ,DC=example,DC=org") == \
        "cn=agents,ou=groups,dc=example,dc=org"
    assert map_groups(settings, ["cn=agents,ou=groups,dc=example,dc=org"]) == (
        ("agent",), ("sales",))
    assert map_groups(settings, ["cn=agents,ou=groups,dc=example,dc=org",
                                 "CN=Leads,OU=Groups,DC=Example,DC=Org", "cn=other"]) == (
        ("agent", "supervisor"), ("sales", "support"))
    assert map_groups(settings, ["cn=other,dc=example,dc=org"]) == ((), ())


def test_an_empty_password_or_an_odd_name_never_reaches_the_directory() -> None:
    settings = _settings()  # port 1: contacting it would raise DirectoryError
    assert authenticate_blocking(settings, "alice", "") is None
    assert authenticate_blocking(settings, "al*ce)(uid=*", "secret") is None


@pytest.mark.parametrize(("values", "message"), [
    ({"urls": ["http://dc1"]}, "write ldap://host[:port] or ldaps://host[:port]"),
    ({"user_search_base": ""}, "give user_search_base"),
    ({"user_dn_template": "uid=x,dc=org"}, "must contain {username}"),
    ({"bind_dn": "cn=reader"}, "give bind_dn and bind_password together"),
    ({"urls": ["ldaps://dc1"], "start_tls": True}, "ldaps:// is encrypted already"),
    ({"groups": {}}, "map at least one directory group"),
    ({"groups": {"cn=x": {"teams": ["sales"]}}}, "no group gives a role"),
    ({"groups": {"cn=x": {"roles": ["boss"]}}}, "roles.0"),
    ({"user_filter": "uid={username}"}, "an LDAP filter is written in parentheses"),
])
def test_a_wrong_directory_section_says_what_is_wrong(values: dict[str, object],
                                                      message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        _settings(**values)


def test_the_section_comes_from_a_yaml_file_and_its_errors_name_file_and_field(
        tmp_path: Path) -> None:
    good = tmp_path / "directory.yaml"
    good.write_text("directory:\n  urls: [ldap://127.0.0.1:389]\n"
                    "  user_dn_template: uid={username},ou=people,dc=example,dc=org\n"
                    "  bind_dn: cn=reader,dc=example,dc=org\n  bind_password: s3cret\n"
                    "  groups:\n    cn=agents,dc=example,dc=org: {roles: [agent]}\n")
    settings = Settings(directory_file=good)
    assert settings.directory.enabled
    assert settings.directory.bind_password is not None
    assert settings.directory.bind_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings.directory)
    bad = tmp_path / "bad.yaml"
    bad.write_text("urls: [ldap://127.0.0.1]\nuser_search_base: ou=people\ngroups:\n"
                   "  cn=agents: {roles: [agent], teams: ['no spaces']}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: .*no spaces.*field 'directory.groups"):
        Settings(directory_file=bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("urls: [ldap://x\n")
    with pytest.raises(ConfigError, match=r"broken.yaml:2: not YAML"):
        Settings(directory_file=broken)
    assert not Settings().directory.enabled


def test_parley_serve_stops_at_a_bad_directory_file_naming_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from parley.cli import app

    bad = tmp_path / "directory.yaml"
    bad.write_text("urls: [ldap://127.0.0.1]\ngroups: {}\n")
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "data")],
                                env={"PARLEY_DIRECTORY_FILE": str(bad)})
    assert result.exit_code == 2
    assert f"error: {bad}: " in result.output
    assert "give user_search_base" in result.output
