"""``borderwatch silence add|list|expire``: a client of the notifier's ``/v1/silences`` API."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import typer
from pydantic import Field, SecretStr

from services.common.cli_support import fail, new_app
from services.common.settings import CommonSettings

_DURATION = re.compile(r"^(\d+)([mhd])$")
_MATCHER = re.compile(r"^([a-z_.]+)(=~|!=|=)(.*)$")


class SilenceClientSettings(CommonSettings):
    notifier_api_url: str = Field(default="http://127.0.0.1:8082")
    notifier_api_token: SecretStr | None = None


def parse_matcher(text: str) -> dict[str, str]:
    found = _MATCHER.match(text)
    if not found:
        raise ValueError(f"matcher {text!r} must look like name=value, name!=value or name=~regex")
    return {"name": found.group(1), "op": found.group(2), "value": found.group(3)}


def parse_duration(text: str) -> timedelta:
    found = _DURATION.match(text)
    if not found:
        raise ValueError("duration must look like 30m, 2h or 1d")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[found.group(2)]
    return timedelta(**{unit: int(found.group(1))})


def _call(method: str, path: str, body: Any = None) -> Any:
    settings = SilenceClientSettings()
    token = settings.notifier_api_token.get_secret_value() if settings.notifier_api_token else ""
    if not token:
        fail("BW_NOTIFIER_API_TOKEN is not set")
    try:
        response = httpx.request(
            method,
            settings.notifier_api_url.rstrip("/") + path,
            json=body,
            headers={"authorization": f"Bearer {token}"},
            timeout=10.0,
        )
    except httpx.HTTPError as exc:
        fail(f"notifier API unreachable at {settings.notifier_api_url} ({type(exc).__name__})")
    if response.status_code >= 400:
        fail(f"notifier API answered {response.status_code}: {response.text[:500]}")
    return response.json()


def register_silences(app: typer.Typer) -> None:
    silence_app = new_app("Silences: mute alerts matching a set of matchers for a while.")
    app.add_typer(silence_app, name="silence")

    @silence_app.command("add")
    def add(
        matchers: Annotated[
            list[str], typer.Argument(help="e.g. rule_id=crossing-closed group.crossing=Torkham")
        ],
        duration: Annotated[str, typer.Option(help="How long: 30m, 2h, 1d.")] = "2h",
        author: Annotated[str, typer.Option(help="Who adds the silence.")] = "cli",
        comment: Annotated[str, typer.Option(help="Why.")] = "",
    ) -> None:
        """Add a silence starting now; prints its id."""
        try:
            body = {
                "matchers": [parse_matcher(m) for m in matchers],
                "ends_at": (datetime.now(UTC) + parse_duration(duration)).isoformat(),
                "created_by": author,
                "comment": comment or "added from the command line",
            }
        except ValueError as exc:
            fail(str(exc))
        typer.echo(_call("POST", "/v1/silences", body)["id"])

    @silence_app.command("list")
    def list_(
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    ) -> None:
        """List silences (active, pending and recently expired)."""
        for s in _call("GET", "/v1/silences"):
            if as_json:
                typer.echo(json.dumps(s))
                continue
            matchers = " ".join(f"{m['name']}{m['op']}{m['value']}" for m in s["matchers"])
            who = f"({s['created_by']}: {s['comment']})"
            typer.echo(f"{s['id']}  {s['state']:<8} until {s['ends_at']}  {matchers}  {who}")

    @silence_app.command("expire")
    def expire(silence_id: str) -> None:
        """Expire a silence now."""
        s = _call("DELETE", f"/v1/silences/{silence_id}")
        typer.echo(f"{s['id']} {s['state']}")
