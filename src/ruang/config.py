"""One Settings object: RUANG_* environment variables, optionally a TOML file, safe defaults.

With nothing set, Ruang keeps its data in ``$XDG_DATA_HOME/ruang`` (``~/.local/share/ruang``),
uses SQLite there, the in-process event bus, and runs its own Janus child process. The full
table of settings is in docs/configuration.md (generated from this class by
``ruang config --markdown``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ruang"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUANG_", extra="ignore",
                                      validate_default=True)

    data_dir: Path = Field(default_factory=default_data_dir,
                           description="Folder for the SQLite database, Janus config and logs.")
    host: str = Field("127.0.0.1", description="Address the web server listens on.")
    port: int = Field(8470, ge=1, le=65535, description="Port the web server listens on.")
    realtime_port: int = Field(8471, ge=0, le=65535, description="Port of the WebSocket "
                               "listener (0 picks a free one).")
    realtime_public_url: str | None = Field(
        None, description="WebSocket URL clients use when a proxy serves the listener "
        "(e.g. wss://ruang.example.org/api/v1/ws).")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL, e.g. postgresql+asyncpg://user@host/db "
        "(default: SQLite in the data folder).")
    redis_url: str | None = Field(None, description="Redis URL for the multi-node event bus "
                                  "(default: in-process bus).")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="json for machines, console for people; auto picks console on a "
        "terminal.")

    media: bool = Field(True, description="Set false to run without any media server "
                        "(rooms work, audio does not).")
    janus_url: str | None = Field(
        None, description="WebSocket URL of an external Janus; unset runs Ruang's own Janus.")
    janus_api_secret: SecretStr | None = Field(None, description="External Janus: api_secret.")
    janus_audiobridge_admin_key: SecretStr | None = Field(
        None, description="External Janus: AudioBridge admin_key.")
    janus_streaming_admin_key: SecretStr | None = Field(
        None, description="External Janus: Streaming admin_key.")
    janus_binary: str | None = Field(None, description="Path of the janus binary "
                                     "(default: found on PATH).")
    janus_ws_port: int = Field(0, ge=0, le=65535, description="Port of the embedded Janus API "
                               "on 127.0.0.1 (0 picks a free one).")
    janus_rtp_ports: str = Field("20000-29999", pattern=r"^\d+-\d+$",
                                 description="UDP ports Janus uses for WebRTC media.")
    janus_forward_ports: str = Field("30000-30999", pattern=r"^\d+-\d+$",
                                     description="UDP ports for the stage-to-audience forward "
                                     "(127.0.0.1 only).")
    janus_event_loops: int = Field(2, ge=0, le=64, description="Janus event loop threads "
                                   "shared by all peers (0: one thread per peer).")
    media_public_ip: str | None = Field(None, description="Public IP to advertise in ICE when "
                                        "behind 1:1 NAT.")
    media_interfaces: str | None = Field(None, description="Only gather ICE candidates on these "
                                         "interfaces (comma-separated, prefixes allowed).")
    audio_prebuffer: int = Field(2, ge=1, le=10, description="Packets (20 ms each) the stage "
                                 "mixer buffers per speaker: lower is faster, higher hides "
                                 "jitter.")

    public_url: str | None = Field(
        None, description="The address people use to reach Ruang, for links in emails "
        "(default: http://HOST:PORT).")
    mail_from: str = Field("Ruang <ruang@localhost>", description="Sender of Ruang's email.")
    smtp_host: str | None = Field(None, description="SMTP server; unset writes email to "
                                  "<data dir>/mail and the log instead.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    smtp_username: str | None = Field(None, description="SMTP user name.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="SMTP connection security.")
    invites_per_member: int = Field(2, ge=0, le=1000, description="Invitations each new "
                                    "member gets.")
    invite_days: int = Field(14, ge=1, le=365, description="Days an invitation link works.")
    topics: str = Field(
        "Product,Engineering,Design,Data & AI,Startups,Marketing,Sales,Finance,Careers,"
        "Leadership,Security,Open Source,Health,Education,Climate",
        description="Comma-separated interests members can pick.")
    avatar_max_bytes: int = Field(5 * 1024 * 1024, ge=10_000, le=50 * 1024 * 1024,
                                  description="Largest avatar upload.")
    password_time_cost: int = Field(3, ge=1, le=20, description="argon2id passes.")
    password_memory_kib: int = Field(65536, ge=1024, le=1048576,
                                     description="argon2id memory per hash (KiB).")
    trust_forwarded_for: bool = Field(False, description="Take the client address from "
                                      "X-Forwarded-For (only behind a trusted proxy).")
    limit_login_ip: str = Field("20/minute", description="Login attempts per address.")
    limit_login_account: str = Field("10/15min", description="Login attempts per username.")
    limit_signup_ip: str = Field("5/hour", description="Waitlist sign-ups and invitation "
                                 "redemptions per address.")
    limit_invite_account: str = Field("20/day", description="Invitations sent per member.")
    limit_reset_ip: str = Field("5/hour", description="Password reset requests per address.")
    limit_reset_account: str = Field("3/hour", description="Password reset emails per "
                                     "address.")
    session_days: int = Field(30, ge=1, le=365, description="Days a login stays valid.")
    presence_grace_seconds: float = Field(
        20.0, ge=0, le=600, description="How long a member whose connection dropped keeps "
        "their place in a room.")
    room_orphan_grace_seconds: float = Field(
        120.0, ge=0, le=86400, description="How long a room with listeners but nobody on stage "
        "waits for a host to come back before it ends.")
    ws_max_message_bytes: int = Field(65536, ge=1024, le=1048576,
                                      description="Largest WebSocket message a client may send.")
    cookie_secure: bool = Field(False, description="Mark the session cookie Secure (set true "
                                "behind HTTPS).")
    web_dir: Path | None = Field(None, description="Folder of the built web app (default: "
                                 "web/dist in the source tree; scripts/run builds it).")

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return upper

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("RUANG_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def effective_web_dir(self) -> Path:
        return self.web_dir or Path(__file__).resolve().parents[2] / "web" / "dist"

    @property
    def topic_list(self) -> list[str]:
        return [t.strip() for t in self.topics.split(",") if t.strip()]

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'ruang.db'}"

    def secret(self, name: str) -> str | None:
        value: Any = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else None


def settings_table() -> str:
    """The configuration table for the README/docs, from the model itself."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            default = "`~/.local/share/ruang`" if name == "data_dir" else "(computed)"
        elif field.default is None:
            default = "unset"
        else:
            default = f"`{field.default}`"
        rows.append(f"| `RUANG_{name.upper()}` | {default} | {field.description or ''} |")
    return "\n".join(rows)
