"""Settings from the environment and an optional `.env` file.

The real environment wins over `.env`. Nothing here talks to the network; the
result is a frozen :class:`Settings` that the rest of the bot receives.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.core.database_url import UnsupportedDatabaseUrl, database_kind, sqlite_path
from bot.core.env_file import ALIASES, SettingsError, read_env_file

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_WEB_URL = "https://github.com"
MAX_GITHUB_PAYLOAD = 25 * 1024 * 1024


# CVE Services in production (`CVE_SERVICES_URL` overrides it).
PRODUCTION_URL = "https://cveawg.mitre.org/api"

@dataclass(frozen=True)
class CveServicesCredentials:
    url: str
    org: str
    user: str
    api_key: str = field(repr=False)


@dataclass(frozen=True)
class Settings:
    app_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    private_key: str | None = field(default=None, repr=False)
    webhook_secrets: tuple[bytes, ...] = field(default=(), repr=False)
    api_url: str = DEFAULT_API_URL
    web_url: str = DEFAULT_WEB_URL
    database_url: str = "sqlite:///var/ghsa-bot.sqlite3"
    host: str = "0.0.0.0"  # noqa: S104 - a web service listens on all interfaces by default
    host_configured: bool = False  # BOT_HOST was set (setup mode listens on loopback otherwise)
    port: int = 8000
    config_dir: Path = Path("config")
    public_url: str | None = None
    env_file: Path = Path(".env")
    max_body_bytes: int = MAX_GITHUB_PAYLOAD
    worker_concurrency: int = 8
    max_attempts: int = 8
    retry_base_seconds: float = 2.0
    lease_seconds: float = 30.0
    leader_lease_seconds: float = 15.0
    recovery_interval_seconds: float = 600.0
    github_timeout_seconds: float = 30.0
    max_inline_wait_seconds: float = 60.0
    mutation_interval: float = 1.0
    sqlite_synchronous: str = "NORMAL"
    # SQLite: acknowledge webhooks once appended to the intake journal (bot/queue/journal.py).
    intake_journal: bool = True
    dry_run: bool = False
    metrics_token: str | None = field(default=None, repr=False)  # BOT_METRICS_TOKEN
    parked_retention_days: float = 14.0  # BOT_PARKED_RETENTION_DAYS
    sentry_dsn: str | None = field(default=None, repr=False)  # SENTRY_DSN (opt-in)
    cve_services: CveServicesCredentials | None = None
    warnings: tuple[str, ...] = ()

    @property
    def has_app_credentials(self) -> bool:
        return bool(self.app_id or self.private_key or self.client_id)

    @property
    def jwt_issuer(self) -> str:
        """GitHub recommends the client id as the JWT issuer; the app id also works."""
        issuer = self.client_id or self.app_id
        if issuer is None:
            raise SettingsError("GITHUB_APP_ID is not set")
        return issuer

    def serve_problem(self) -> str | None:
        """Why `serve` cannot serve webhooks with these settings, or None."""
        missing = []
        if not self.app_id:
            missing.append("GITHUB_APP_ID")
        if not self.private_key:
            missing.append("GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_FILE")
        if not self.webhook_secrets:
            missing.append("GITHUB_WEBHOOK_SECRET")
        if missing:
            return "cannot serve webhooks: missing " + ", ".join(missing)
        return None


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):  # nan, inf, 1e400: no retention, no retries, no port
        raise SettingsError(f"{name} must be a finite number, got {raw!r}")
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum:g}, got {raw!r}")
    return value


def read_environment(
    environ: Mapping[str, str] | None = None, *, env_file: Path | None = None
) -> tuple[dict[str, str], Path, list[str]]:
    """`.env` (BOT_ENV_FILE, default `./.env`) overlaid with `environ` (default: the
    process environment), which wins; the `.env` path; warnings about its mode."""
    process_env = dict(os.environ if environ is None else environ)
    env_path = Path(env_file or process_env.get("BOT_ENV_FILE", ".env"))
    env: dict[str, str] = {}
    warnings: list[str] = []
    if env_path.is_file():
        env.update(read_env_file(env_path))
        env_mode = env_path.stat().st_mode
        if env_mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(
                f"{env_path} is readable by others (mode {stat.S_IMODE(env_mode):o}) and may "
                f"hold the App's private key and secrets; run: chmod 600 {env_path}"
            )
    env.update(process_env)
    return env, env_path, warnings


def apply_aliases(env: dict[str, str]) -> dict[str, str]:
    """Set each of the bot's own names from its alias (`APP_ID`, ...) when only the
    alias is set; returns which variable each own name was read from, for messages.

    Both set to different values is a SettingsError naming both, never the values.
    """
    named = {own: own for own in ALIASES}
    for own, alias in ALIASES.items():
        own_value, alias_value = env.get(own) or "", env.get(alias) or ""
        if not alias_value:
            continue
        if own_value and own_value.strip() != alias_value.strip():
            raise SettingsError(
                f"{own} and {alias} are both set, to different values; "
                f"set only one of them ({alias} is the Probot name for {own})"
            )
        if not own_value:
            env[own] = alias_value
            named[own] = alias
    return named


def load_settings(
    environ: Mapping[str, str] | None = None, *, env_file: Path | None = None
) -> Settings:
    """Build settings from `environ` (default: the process environment) and `.env`."""
    env, env_path, warnings = read_environment(environ, env_file=env_file)
    named = apply_aliases(env)

    private_key = env.get("GITHUB_PRIVATE_KEY") or None
    key_file = env.get("GITHUB_PRIVATE_KEY_FILE") or None
    if private_key is None and key_file is not None:
        key_path = Path(key_file)
        try:
            private_key = key_path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SettingsError(
                f"{named['GITHUB_PRIVATE_KEY_FILE']}={key_file}: not a PEM private key "
                "(not text)"
            ) from None
        except OSError as error:
            raise SettingsError(
                f"{named['GITHUB_PRIVATE_KEY_FILE']}={key_file}: cannot read it "
                f"({error.strerror})"
            ) from None
        mode = key_path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(
                f"GITHUB_PRIVATE_KEY_FILE={key_file} is readable by others "
                f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {key_file}"
            )
    if private_key is not None and "PRIVATE KEY" not in private_key:
        raise SettingsError(
            f"{named['GITHUB_PRIVATE_KEY']} does not look like a PEM private key"
        )

    secrets = tuple(
        part.strip().encode()
        for part in env.get("GITHUB_WEBHOOK_SECRET", "").split(",")
        if part.strip()
    )
    port = int(_number(env, "PORT", 8000))
    if not 0 <= port <= 65535:
        raise SettingsError(f"PORT must be 0..65535, got {port}")
    synchronous = env.get("BOT_SQLITE_SYNCHRONOUS", "NORMAL").upper()
    if synchronous not in {"FULL", "NORMAL", "EXTRA"}:
        raise SettingsError("BOT_SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA")
    journal = env.get("BOT_INTAKE_JOURNAL", "on").strip().lower()
    if journal not in {"on", "off"}:
        raise SettingsError(f"BOT_INTAKE_JOURNAL must be on or off, got {journal[:20]!r}")
    database_url = env.get("DATABASE_URL") or "sqlite:///var/ghsa-bot.sqlite3"
    try:
        kind = database_kind(database_url)
    except UnsupportedDatabaseUrl as error:
        raise SettingsError(str(error)) from None
    if kind == "sqlite" and str(sqlite_path(database_url)) != ":memory:":
        warnings.extend(database_permission_warnings(sqlite_path(database_url)))
    for name in ("GITHUB_API_URL", "GITHUB_WEB_URL", "CVE_SERVICES_URL"):
        warnings.extend(plaintext_url_warnings(name, env.get(name) or ""))

    return Settings(
        cve_services=_cve_services(env),
        app_id=env.get("GITHUB_APP_ID") or None,
        client_id=env.get("GITHUB_CLIENT_ID") or None,
        client_secret=env.get("GITHUB_CLIENT_SECRET") or None,
        private_key=private_key,
        webhook_secrets=secrets,
        api_url=(env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
        web_url=(env.get("GITHUB_WEB_URL") or DEFAULT_WEB_URL).rstrip("/"),
        database_url=database_url,
        host=env.get("BOT_HOST") or "0.0.0.0",  # noqa: S104
        host_configured=bool(env.get("BOT_HOST")),
        port=port,
        config_dir=Path(env.get("BOT_CONFIG") or "config"),
        public_url=(env.get("BOT_PUBLIC_URL") or "").rstrip("/") or None,
        env_file=env_path,
        max_body_bytes=int(_number(env, "BOT_MAX_BODY_BYTES", MAX_GITHUB_PAYLOAD, minimum=1)),
        worker_concurrency=int(_number(env, "BOT_WORKER_CONCURRENCY", 8, minimum=1)),
        max_attempts=int(_number(env, "BOT_MAX_ATTEMPTS", 8, minimum=1)),
        retry_base_seconds=_number(env, "BOT_RETRY_BASE_SECONDS", 2.0),
        lease_seconds=_number(env, "BOT_LEASE_SECONDS", 30.0, minimum=1),
        leader_lease_seconds=_number(env, "BOT_LEADER_LEASE_SECONDS", 15.0, minimum=1),
        github_timeout_seconds=_number(env, "BOT_GITHUB_TIMEOUT_SECONDS", 30.0, minimum=1),
        max_inline_wait_seconds=_number(env, "BOT_MAX_INLINE_WAIT_SECONDS", 60.0, minimum=0),
        recovery_interval_seconds=_number(env, "BOT_RECOVERY_INTERVAL_SECONDS", 600.0, minimum=1),
        mutation_interval=_number(env, "BOT_MUTATION_INTERVAL", 1.0),
        sqlite_synchronous=synchronous,
        intake_journal=journal == "on",
        dry_run=env.get("BOT_DRY_RUN", "") in {"1", "true", "yes"},
        metrics_token=env.get("BOT_METRICS_TOKEN") or None,
        parked_retention_days=_number(env, "BOT_PARKED_RETENTION_DAYS", 14.0, minimum=1),
        sentry_dsn=env.get("SENTRY_DSN") or None,
        warnings=tuple(warnings),
    )


def database_permission_warnings(path: Path) -> list[str]:
    """Warnings for a SQLite database others could read: it holds embargoed reports.

    The bot creates its folder 0700 and its files 0600; one made before, or by
    hand, may be looser. SQLite gives -wal and -shm the database file's mode.
    """
    warnings = []
    folder = path.parent
    with contextlib.suppress(OSError):
        mode = folder.stat().st_mode
        if stat.S_ISDIR(mode) and mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(
                f"the database folder {folder} is open to others (mode {stat.S_IMODE(mode):o}); "
                f"run: chmod 700 {folder} (or keep the database in a folder of its own)"
            )
    loose = []
    for file in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        with contextlib.suppress(OSError):
            mode = file.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                loose.append((file, stat.S_IMODE(mode)))
    if loose:
        names = " ".join(str(file) for file, _ in loose)
        modes = ", ".join(f"{file.name} {mode:o}" for file, mode in loose)
        warnings.append(f"database files are readable by others ({modes}); run: chmod 600 {names}")
    return warnings


def plaintext_url_warnings(name: str, url: str) -> list[str]:
    """A warning when `url` is plain http to a host that is not this one: the tokens,
    the client secret or the CVE Services API key sent there cross the network
    unencrypted. Loopback (127.0.0.0/8, ::1, localhost) is fine: tests, GHES labs."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return []  # not a URL the client could use either
    if parts.scheme.lower() != "http" or _is_loopback(host):
        return []
    return [
        f"{name} is plain http to {host or 'an unnamed host'}: tokens and secrets sent "
        "there cross the network unencrypted; use https://"
    ]


def _is_loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


CVE_SERVICES_KEYS = ("CVE_SERVICES_ORG", "CVE_SERVICES_USER", "CVE_SERVICES_API_KEY")


def _cve_services(env: Mapping[str, str]) -> CveServicesCredentials | None:
    """The team's CNA credentials for CVE Services: all three, or none."""
    present = [key for key in CVE_SERVICES_KEYS if env.get(key)]
    if not present:
        return None
    missing = [key for key in CVE_SERVICES_KEYS if key not in present]
    if missing:
        raise SettingsError(
            f"{', '.join(present)} set but {', '.join(missing)} missing: "
            "CVE Services needs the org short name, a user and its API key"
        )
    return CveServicesCredentials(
        url=(env.get("CVE_SERVICES_URL") or PRODUCTION_URL).rstrip("/"),
        org=env["CVE_SERVICES_ORG"],
        user=env["CVE_SERVICES_USER"],
        api_key=env["CVE_SERVICES_API_KEY"],
    )
