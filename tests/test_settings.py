"""Settings: pulse.toml, environment variables winning over it, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse.settings import SettingsError, load_settings


def test_defaults_without_a_file(tmp_path):
    s = load_settings(tmp_path / "absent.toml", environ={})
    assert (s.timezone, s.currency, s.session_timeout, s.store.name) == ("UTC", "USD", 30, "pulse.duckdb")
    assert s.admin_db.startswith("sqlite:///") and s.admin_db.endswith("data/admin.db")


def test_environment_wins_over_the_file(tmp_path):
    toml = tmp_path / "pulse.toml"
    toml.write_text('timezone = "Europe/Berlin"\ncurrency = "eur"\nsession_timeout = 45\nstore = "/srv/a.duckdb"\n'
                    '[api_limits]\nfree = 10\npro = 500\n')
    s = load_settings(toml, environ={"PULSE_TIMEZONE": "America/New_York", "PULSE_STORE": "/srv/b.duckdb",
                                     "PULSE_ADMIN_DB": "postgresql+psycopg://u@h/admin"})
    assert (s.timezone, s.currency, s.session_timeout, s.store, s.admin_db) == (
        "America/New_York", "EUR", 45, Path("/srv/b.duckdb"), "postgresql+psycopg://u@h/admin")
    assert s.api_limits == (("free", 10), ("pro", 500))


def test_api_limits_from_the_environment(tmp_path):
    s = load_settings(tmp_path / "absent.toml", environ={"PULSE_API_LIMITS": "pro=100, free=5"})
    assert s.api_limits == (("free", 5), ("pro", 100))


@pytest.mark.parametrize(
    "environ,message",
    [
        ({"PULSE_TIMEZONE": "Mars/Olympus"}, "Setting timezone is 'Mars/Olympus', which is not an IANA time zone name"),
        ({"PULSE_CURRENCY": "dollars"}, "Setting currency is 'dollars', which is not a three-letter ISO 4217 code"),
        ({"PULSE_SESSION_TIMEOUT": "soon"}, "Setting session_timeout has the value 'soon'"),
        ({"PULSE_SESSION_TIMEOUT": "0"}, "Setting session_timeout is 0; give a whole number from 1 to 1440."),
        ({"PULSE_QUERY_SECONDS": "99999"}, "Setting query_seconds is 99999; give a whole number from 1 to 3600."),
        ({"PULSE_SMTP_SECURITY": "maybe"}, "Setting smtp_security is 'maybe'; use one of: none, starttls, ssl."),
        ({"PULSE_SMTP_RATE": "fast"}, "Setting smtp_rate has the value 'fast'"),
        ({"PULSE_SMTP_RATE": "-1"}, "Setting smtp_rate is '-1'; give messages per second from 0 .no limit. to 10000."),
        ({"PULSE_PUBLIC_URL": "pulse.example.com"}, "Setting public_url is 'pulse.example.com'; give the web app's address"),
    ],
)
def test_a_bad_setting_is_one_sentence(tmp_path, environ, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        load_settings(tmp_path / "absent.toml", environ=environ)


def test_a_broken_or_unknown_file_is_named(tmp_path):
    toml = tmp_path / "pulse.toml"
    toml.write_text("timezone = ")
    with pytest.raises(SettingsError, match="pulse.toml is not valid TOML"):
        load_settings(toml, environ={})
    toml.write_text('colour = "blue"\n')
    with pytest.raises(SettingsError, match="unknown settings: colour"):
        load_settings(toml, environ={})
