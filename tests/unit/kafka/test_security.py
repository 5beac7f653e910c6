"""Security settings: every client gets the same SASL/TLS arguments, and secrets never show in a
repr, a dump or a log line."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import faust
import pytest
from pydantic import ValidationError

from pipeline.config import KafkaSettings, Settings, load_settings
from pipeline.kafka.security import client_options, describe, faust_options, ssl_context

SECRET = "hunter2-very-secret"


def sasl(**changes: object) -> KafkaSettings:
    values: dict[str, object] = {
        "bootstrap_servers": "broker:9094",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "svc-kpi",
        "sasl_password": SECRET,
        "ssl_key_password": SECRET,
        **changes,
    }
    return KafkaSettings.model_validate(values)


def test_secrets_stay_out_of_reprs_dumps_and_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(kafka=sasl())
    log = logging.getLogger("test")
    with caplog.at_level(logging.INFO):
        log.info("settings: %s", settings)
        log.info("settings: %r", settings)
        log.info("kafka: %s", describe(settings.kafka))
    texts = [repr(settings), str(settings), settings.model_dump_json(), caplog.text]
    for text in texts:
        assert SECRET not in text
    assert "svc-kpi" in caplog.text and "SCRAM-SHA-512" in caplog.text
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == SECRET


def test_env_vars_configure_sasl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPI_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KPI_KAFKA__SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("KPI_KAFKA__SASL_USERNAME", "svc")
    monkeypatch.setenv("KPI_KAFKA__SASL_PASSWORD", SECRET)
    kafka = load_settings().kafka
    assert client_options(kafka) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "svc",
        "sasl_plain_password": SECRET,
    }
    credentials = faust_options(kafka)["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("svc", SECRET)
    assert credentials.mechanism.value == "PLAIN" and credentials.ssl_context is None
    assert SECRET not in repr(credentials)


def test_sasl_over_tls_gives_every_client_a_verifying_context() -> None:
    kafka = sasl(ssl_key_password=None)
    options = client_options(kafka)
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    credentials = faust_options(kafka)["broker_credentials"]
    assert credentials.protocol.value == "SASL_SSL" and credentials.ssl_context is not None


def test_plain_tls_and_plaintext() -> None:
    tls = KafkaSettings(security_protocol="SSL", ssl_check_hostname=False)
    context = ssl_context(tls)
    assert context is not None and not context.check_hostname
    assert isinstance(faust_options(tls)["broker_credentials"], faust.SSLCredentials)
    assert client_options(KafkaSettings()) == {"security_protocol": "PLAINTEXT"}
    assert faust_options(KafkaSettings()) == {}


def test_a_missing_ca_file_is_an_error_not_a_silent_fallback(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ssl_context(KafkaSettings(security_protocol="SSL", ssl_cafile=tmp_path / "none.pem"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sasl_mechanism": None}, "needs sasl_mechanism"),
        ({"sasl_username": None}, "needs sasl_mechanism and sasl_username"),
        ({"security_protocol": "SSL"}, "needs security_protocol SASL_PLAINTEXT or SASL_SSL"),
        ({"sasl_mechanism": "GSSAPI"}, "sasl_mechanism"),
        ({"ssl_certfile": "client.pem"}, "ssl_certfile and ssl_keyfile go together"),
    ],
)
def test_inconsistent_security_settings_are_refused(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        sasl(**changes)
    assert message in str(error.value)
    assert SECRET not in str(error.value)


def test_a_settings_error_does_not_echo_the_password() -> None:
    # Without hidden inputs pydantic would print the value of the offending field.
    with pytest.raises(ValidationError) as error:
        Settings.model_validate({"kafka": [SECRET]})
    assert "kafka" in str(error.value)
    assert SECRET not in str(error.value)
