"""Repositories: the only place handlers' questions become SQL. One module per table family."""

from storage.repos.alerts import AlertsRepo
from storage.repos.away import AwayRepo
from storage.repos.bounces import BouncesRepo
from storage.repos.campaigns import CampaignsRepo
from storage.repos.connectors import ConnectorChangesRepo
from storage.repos.deals import DealsRepo
from storage.repos.directory import DirectoryRepo
from storage.repos.inbound import InboundRepo
from storage.repos.kv import KeyValueRepo
from storage.repos.leads import LeadsRepo
from storage.repos.outbox import OutboxRepo
from storage.repos.people import PeopleRepo
from storage.repos.prefs import PrefsRepo
from storage.repos.review import ReviewRepo
from storage.repos.schedule import ScheduleRepo
from storage.repos.scoreboard import ScoreboardRepo
from storage.repos.teams import TeamsRepo

__all__ = [
    "AlertsRepo",
    "AwayRepo",
    "BouncesRepo",
    "CampaignsRepo",
    "ConnectorChangesRepo",
    "DealsRepo",
    "DirectoryRepo",
    "InboundRepo",
    "KeyValueRepo",
    "LeadsRepo",
    "OutboxRepo",
    "PeopleRepo",
    "PrefsRepo",
    "ReviewRepo",
    "ScheduleRepo",
    "ScoreboardRepo",
    "TeamsRepo",
]
