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
        (
            "business_hours: {holidays: {country: US, subdivision: ZZ}}",
            "business_hours.holidays: US has no holiday subdivision 'ZZ'",
        ),
        (
            "business_hours: {holidays: {by_timezone: {Europe/Paris: {country: ZZ}}}}",
            "business_hours.holidays.by_timezone.Europe/Paris: unknown holiday country 'ZZ'",
        ),
        (
            "business_hours: {holidays: {by_timezone: {Mars/Base: {country: FR}}}}",
            "business_hours.holidays: unknown timezone 'Mars/Base'",
        ),
        ("people: [{key: a, name: A, email: not-an-email, team: sales}]", "people.0.email"),
        (
            "people: [{key: a, name: A, email: a@x.io, team: sales, manager: zed}]",
            "people.0.manager: no person with key 'zed'",
        ),
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


@pytest.mark.parametrize(
    "members, expected",
    [
        ("{teams_channel: Sales}", "teams.sales.members.teams_channel: 'Sales' is not a Teams channel id"),
        (
            "{teams_team: 1f2e3d4c-1234-5678-9abc-def012345678}",
            "teams.sales.members.teams_team: '1f2e3d4c-1234-5678-9abc-def012345678' looks like a Microsoft Entra "
            "group id",
        ),
        (
            "{teams_channel: '19:sales1@thread.tacv2', teams_team: '19:team1@thread.tacv2'}",
            "teams.sales.members: give teams_channel or teams_team, not both",
        ),
        ("{slack_usergroup: sales}", "teams.sales.members.slack_usergroup"),
    ],
)
def test_a_bad_teams_roster_is_reported_with_its_key(members, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(MINIMAL + f"teams: {{sales: {{channel: sales, members: {members}}}}}\n", "acme.yaml")
    assert expected in str(err.value)


def test_a_teams_channel_or_team_names_the_roster_of_a_team():
    cfg = parse_config(
        MINIMAL + "teams: {sales: {channel: sales, members: {teams_channel: '19:ab_cd-12@thread.tacv2'}}}"
    )
    assert cfg.teams["sales"].members.teams_conversation == "19:ab_cd-12@thread.tacv2"
    cfg = parse_config(MINIMAL + "teams: {sales: {channel: sales, members: {teams_team: '19:team1@thread.skype'}}}")
    assert cfg.teams["sales"].members.teams_conversation == "19:team1@thread.skype"
