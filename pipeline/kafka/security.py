"""Kafka client options from the pipeline's settings: the one place that turns
``KafkaSettings`` (SASL PLAIN/SCRAM, TLS) into arguments for every client the pipeline creates:
the worker (Faust), the producers (simulator, importer, replay) and the admin client that
creates topics.

Passwords leave their ``SecretStr`` only here, into the client arguments; nothing here logs them.
"""

from __future__ import annotations

import ssl
from typing import Any

import faust
from pydantic import SecretStr

from pipeline.config import KafkaSettings

__all__ = ["client_options", "describe", "faust_options", "ssl_context"]


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context of SSL and SASL_SSL connections (None for plaintext ones)."""
    if kafka.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(
        purpose=ssl.Purpose.SERVER_AUTH,
        cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None,
    )
    context.check_hostname = kafka.ssl_check_hostname
    if kafka.ssl_certfile is not None and kafka.ssl_keyfile is not None:
        context.load_cert_chain(
            str(kafka.ssl_certfile),
            str(kafka.ssl_keyfile),
            password=_secret(kafka.ssl_key_password),
        )
    return context


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Security arguments for aiokafka's producer, consumer and admin client (the bootstrap
    servers are passed separately)."""
    options: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    context = ssl_context(kafka)
    if context is not None:
        options["ssl_context"] = context
    if kafka.sasl_mechanism is not None:
        options["sasl_mechanism"] = kafka.sasl_mechanism
        options["sasl_plain_username"] = kafka.sasl_username
        options["sasl_plain_password"] = _secret(kafka.sasl_password) or ""
    return options


def faust_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Arguments of ``faust.App`` for the same security settings."""
    context = ssl_context(kafka)
    if kafka.sasl_mechanism is not None:
        credentials: Any = faust.SASLCredentials(
            username=kafka.sasl_username,
            password=_secret(kafka.sasl_password) or "",
            mechanism=kafka.sasl_mechanism,
            ssl_context=context,
        )
        return {"broker_credentials": credentials}
    if context is not None:
        return {"broker_credentials": faust.SSLCredentials(context)}
    return {}


def describe(kafka: KafkaSettings) -> str:
    """How the clients connect, for log lines and error messages (never the password)."""
    text = f"{kafka.bootstrap_servers} ({kafka.security_protocol}"
    if kafka.sasl_mechanism is not None:
        text += f", SASL {kafka.sasl_mechanism} as {kafka.sasl_username!r}"
    return text + ")"


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()
