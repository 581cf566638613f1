"""The YAML configuration: validated at start, with errors naming the file, key and problem."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_config, parse_config

MINIMAL = """
channels: {wins: {slack: C1}, sales: {slack: C2}}
teams: {sales: {channel: sales, timezone: America/New_York}}
"""


def test_the_built_in_demo_config_is_valid_and_has_two_teams_of_people():
    cfg = load_config(None)
    teams = {p.team for p in cfg.people}
    assert teams == {"sales", "marketing"}
    assert len(cfg.people) >= 20
    assert cfg.teams["sales"].timezone != cfg.teams["marketing"].timezone


def test_a_minimal_config_gets_sensible_defaults():
    cfg = parse_config(MINIMAL)
    assert cfg.business_hours.start.hour == 9 and cfg.business_hours.end.hour == 17
    assert cfg.sla.tiers["hot"].hours == 1
    assert [r.code for r in cfg.bounce.reasons][:2] == ["not_ready", "no_budget"]
    assert cfg.teams["sales"].digest.day == "mon"


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("sla: {tiers: {hot: {hours: -1}}}", "sla.tiers.hot.hours: Input should be greater than 0"),
        ("business_hours: {start: '25:00'}", "business_hours.start: expected a time like '09:00'"),
        ("business_hours: {start: '18:00', end: '09:00'}", "business_hours: end must be after start"),
        ("colour: blue", "colour: unknown key"),
        ("business_hours: {holidays: {country: XX}}", "business_hours.holidays: unknown holiday country 'XX'"),
        ("business_hours: {holidays: {country: US, subdivision: ZZ}}",
         "business_hours.holidays: US has no holiday subdivision 'ZZ'"),
        ("business_hours: {holidays: {by_timezone: {Europe/Paris: {country: ZZ}}}}",
         "business_hours.holidays.by_timezone.Europe/Paris: unknown holiday country 'ZZ'"),
        ("business_hours: {holidays: {by_timezone: {Mars/Base: {country: FR}}}}",
         "business_hours.holidays: unknown timezone 'Mars/Base'"),
        ("people: [{key: a, name: A, email: not-an-email, team: sales}]", "people.0.email"),
        ("people: [{key: a, name: A, email: a@x.io, team: sales, manager: zed}]",
         "people.0.manager: no person with key 'zed'"),
        ("wins: {wide_channel: nowhere}", "wins.wide_channel: no channel 'nowhere' under channels"),
    ],
)
def test_a_bad_value_is_reported_with_the_file_key_and_problem(extra, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(MINIMAL + extra, "acme.yaml")
    assert "config error in acme.yaml" in str(err.value)
    assert expected in str(err.value)


def test_a_file_that_is_not_yaml_is_reported_as_such(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("channels: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)


def test_a_missing_file_is_reported_with_its_path(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "nope.yaml")
