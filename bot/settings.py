"""Environment settings (``.env.example`` lists every one)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    database_url: str = "sqlite:///./smarketing.db"
    smarketing_config: str | None = None
    host: str = "127.0.0.1"
    port: int = 3000

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None  # xapp-…: Socket Mode
    slack_api_url: str = "https://slack.com/api/"

    teams_client_id: str | None = None
    teams_client_secret: str | None = None
    teams_tenant_id: str | None = None
    # Accept Teams activities without a Bot Framework token (the SDK's own switch, same name):
    # local emulators such as the Agents Playground only. Never in production.
    dangerously_allow_unauthenticated_requests: bool = False

    webhook_secret: str | None = None
    webhook_max_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    webhook_max_events: int = Field(default=1000, gt=0)
    # A spreadsheet dropped on the local workspace (larger files: `python -m bot import FILE`)
    import_max_bytes: int = Field(default=25 * 1024 * 1024, gt=0)

    # HubSpot (README: "Connecting HubSpot"): a private app's (or service key's) access token; the
    # app's client secret verifies its webhooks (X-HubSpot-Signature-v3).
    hubspot_access_token: str | None = None
    hubspot_client_secret: str | None = None
    hubspot_api_url: str = "https://api.hubapi.com"  # tests point it at a local stand-in
    # The webhook URL exactly as entered in HubSpot (the v3 signature covers it); behind a proxy
    # the URL this server sees differs. Default: the URL of the request as received.
    hubspot_webhook_url: str | None = None
    hubspot_webhook_max_bytes: int = Field(default=1024 * 1024, gt=0)
    # HubSpot's limits for the account: requests per 10 seconds (burst) and CRM searches per second.
    hubspot_burst_limit: int = Field(default=100, gt=0)
    hubspot_search_limit: int = Field(default=5, gt=0)

    # Salesforce (README: "Connecting Salesforce"): a connected app's consumer key, and either the
    # JWT bearer flow (the integration user's username and the app's private key, PEM text or a
    # file) or the client credentials flow (the consumer secret; needs the My Domain login URL).
    salesforce_client_id: str | None = None
    salesforce_username: str | None = None
    salesforce_private_key: str | None = None
    salesforce_private_key_file: str | None = None
    salesforce_client_secret: str | None = None
    salesforce_login_url: str = Field(default="https://login.salesforce.com", pattern=r"^https?://")
    salesforce_api_version: str = Field(default="64.0", pattern=r"^v?\d+\.\d$")

    # The local workspace serves when no chat credentials are set; these override that.
    local_workspace: bool | None = None  # force on (true) or off (false)
    allow_remote_local_workspace: bool = False  # allow a non-loopback HOST for it
    demo_data: bool = True  # load the demo company into an empty local workspace database
    demo_life: bool = True  # the demo company lives on as simulated time moves (bot/local/life.py)

    # Delivery tuning (defaults suit Slack; tests shorten the waits)
    delivery_channel_interval: float = Field(default=1.0, ge=0)  # seconds between posts to one channel
    delivery_retry_base: float = Field(default=2.0, ge=0)  # first retry delay, doubling
    delivery_retry_max: float = Field(default=300.0, gt=0)
    delivery_max_attempts: int = Field(default=8, gt=0)
    delivery_poll: float = Field(default=0.5, gt=0)
    # A claim on a message lasts this long (renewed right before each call to the platform);
    # a crashed worker's messages are taken over when it runs out. Slack's post timeout is kept
    # well under it, so a post in flight ends before anyone else can try the message.
    delivery_lease: float = Field(default=60.0, ge=1)
    delivery_workers: int = Field(default=4, gt=0)  # messages delivered at once (to different destinations)
    # Database calls fail fast instead of hanging (a network partition, a locked SQLite file).
    db_connect_timeout: float = Field(default=3.0, gt=0)  # PostgreSQL: seconds to connect
    db_statement_timeout: float = Field(
        default=10.0, ge=0
    )  # PostgreSQL statement_timeout; SQLite busy timeout; 0: none
    health_timeout: float = Field(default=3.0, gt=0)  # /healthz answers 503 when its write probe takes longer
    scheduler: bool = True  # run the in-process scheduler when serving
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _slack_mode(self) -> "Settings":
        # A token alone once served /slack/events without checking signatures: refuse it.
        if self.slack_bot_token and not (self.slack_signing_secret or self.slack_app_token):
            raise ValueError(
                "SLACK_BOT_TOKEN is set without SLACK_SIGNING_SECRET (Slack over HTTP at "
                "POST /slack/events) or SLACK_APP_TOKEN (Socket Mode): set one of them"
            )
        return self

    @property
    def slack_modes(self) -> list[str]:
        """How Slack reaches this process: "http" (signed requests to /slack/events), "socket"."""
        if not self.slack_bot_token:
            return []
        return [m for m, on in (("socket", self.slack_app_token), ("http", self.slack_signing_secret)) if on]

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and (self.slack_signing_secret or self.slack_app_token))

    @property
    def teams_enabled(self) -> bool:
        return bool(self.teams_client_id)

    @property
    def hubspot_enabled(self) -> bool:
        return bool(self.hubspot_access_token)

    @property
    def salesforce_enabled(self) -> bool:
        return bool(self.salesforce_client_id)

    @property
    def local_enabled(self) -> bool:
        if self.local_workspace is not None:
            return self.local_workspace
        return not (self.slack_enabled or self.teams_enabled)
