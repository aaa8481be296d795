"""Secret references: the configuration file names where a secret lives, never the secret itself.

A reference is ``SCHEME:NAME``. ``env:NAME`` reads the environment variable ``NAME``. Other schemes
(``vault:NAME`` for the encrypted vault) plug in as extra resolvers, keyed by scheme::

    resolver = SchemeResolver({"env": EnvResolver(os.environ), "vault": my_vault})
    password = ref.resolve(resolver)

Resolvers raise ``SecretError`` with a message that names the reference and never the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from ml_connector.errors import SecretError

#: Schemes the parser accepts. ``vault`` is the encrypted vault (``ml_connector.vault``); without a
#: ``[vault]`` table no resolver for it is registered and a ``vault:`` reference reports that.
KNOWN_SCHEMES = ("env", "vault")

_REF = re.compile(r"^(?P<scheme>[a-z][a-z0-9]*):(?P<name>[A-Za-z_][A-Za-z0-9_.\-/]*)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SecretRefSyntaxError(ValueError):
    """The text is not a well-formed secret reference. The message never repeats the text."""


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret lives, e.g. ``SecretRef("env", "ACME_VISMA_SECRET")``. Holds no value."""

    scheme: str
    name: str

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        """Parse ``SCHEME:NAME``. Error messages never quote ``text``: it may be a pasted secret."""
        m = _REF.match(text.strip())
        if m is None:
            raise SecretRefSyntaxError(
                "must be a secret reference such as env:VARIABLE_NAME (secrets are never written in the file)"
            )
        scheme, name = m["scheme"], m["name"]
        if scheme not in KNOWN_SCHEMES:
            raise SecretRefSyntaxError(
                f"unknown secret scheme {scheme!r}; use one of: "
                + ", ".join(f"{s}:NAME" for s in KNOWN_SCHEMES)
            )
        if scheme == "env" and not _ENV_NAME.match(name):
            raise SecretRefSyntaxError(
                "an env: reference names an environment variable: letters, digits and _ only"
            )
        return cls(scheme, name)

    def resolve(self, resolver: SecretResolver) -> str:
        """The secret's value, from ``resolver``. Raises ``SecretError`` when it cannot be read."""
        return resolver.resolve(self)

    def __str__(self) -> str:
        return f"{self.scheme}:{self.name}"

    def __repr__(self) -> str:
        return f"SecretRef({str(self)!r})"


class SecretResolver(Protocol):
    """Turns a reference into its value, or raises ``SecretError`` (message without the value)."""

    def resolve(self, ref: SecretRef) -> str: ...


class EnvResolver:
    """``env:NAME`` -> the environment variable NAME. An unset or empty variable is an error."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def resolve(self, ref: SecretRef) -> str:
        if ref.scheme != "env":
            raise SecretError(f"{ref}: the environment resolver only reads env: references")
        value = self._environ.get(ref.name)
        if value is None:
            raise SecretError(f"environment variable {ref.name} is not set")
        if not value.strip():
            raise SecretError(f"environment variable {ref.name} is empty")
        return value

    def __repr__(self) -> str:
        return "EnvResolver()"


class SchemeResolver:
    """Dispatches on the reference's scheme to one resolver per scheme (``env``, later ``vault``)."""

    def __init__(self, resolvers: Mapping[str, SecretResolver]) -> None:
        self._resolvers = dict(resolvers)

    @property
    def schemes(self) -> tuple[str, ...]:
        return tuple(self._resolvers)

    def resolve(self, ref: SecretRef) -> str:
        resolver = self._resolvers.get(ref.scheme)
        if resolver is None:
            raise SecretError(
                f"{ref}: no resolver for {ref.scheme}: references is configured"
                f" (available: {', '.join(self._resolvers) or 'none'})"
            )
        return resolver.resolve(ref)

    def __repr__(self) -> str:
        return f"SchemeResolver({sorted(self._resolvers)})"


def default_resolver(
    environ: Mapping[str, str] | None = None, *, vault: SecretResolver | None = None
) -> SchemeResolver:
    """``env:`` over ``environ``, plus ``vault:`` when a vault resolver is given."""
    resolvers: dict[str, SecretResolver] = {"env": EnvResolver(environ)}
    if vault is not None:
        resolvers["vault"] = vault
    return SchemeResolver(resolvers)


def resolve_secret(ref: SecretRef, environ: Mapping[str, str] | None = None) -> str:
    """Resolve ``ref`` with the default resolver over ``environ`` (``os.environ`` when omitted)."""
    return ref.resolve(default_resolver(environ))
