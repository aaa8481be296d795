"""Dashboard users and sessions, stored in the ledger (tables in ``ledger.users_schema``).

Passwords are hashed with scrypt (stdlib ``hashlib.scrypt``, N=2**15, r=8, p=1, 16-byte salt).
A session cookie carries 32 random bytes; the ledger stores only their sha256, next to the
session's CSRF token, so a copy of the database does not give anyone a live session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ml_connector.errors import ConfigError
from ml_connector.ledger.store import Ledger, utcnow
from ml_connector.ledger.users_schema import users, web_sessions

ROLES = ("viewer", "operator")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
MIN_PASSWORD = 10
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**15, 8, 1, 32
SCRYPT_MAXMEM = 64 * 1024 * 1024
SESSION_LIFETIME = timedelta(hours=8)


@dataclass(frozen=True)
class User:
    username: str
    role: str

    @property
    def can_operate(self) -> bool:
        return self.role == "operator"


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=SCRYPT_LEN,
        maxmem=SCRYPT_MAXMEM,
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=SCRYPT_MAXMEM,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


# Verified against when the user does not exist, so that a wrong name costs as much as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def check_new_user(username: str, role: str, password: str) -> None:
    if not USERNAME.match(username):
        raise ConfigError("a user name is 1-100 letters, digits, '.', '_', '@' or '-'")
    if role not in ROLES:
        raise ConfigError(f"role must be one of: {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"the password must be at least {MIN_PASSWORD} characters")


def add_user(ledger: Ledger, username: str, role: str, password: str) -> User:
    check_new_user(username, role, password)
    now = utcnow()
    try:
        with ledger.tx() as conn:
            conn.execute(
                users.insert().values(
                    username=username,
                    role=role,
                    password_hash=hash_password(password),
                    disabled=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            ledger.audit(
                conn,
                connection=None,
                entity="user",
                key=username,
                action="user_added",
                actor="cli",
                details={"role": role},
            )
    except IntegrityError:
        raise ConfigError(f"a user named {username!r} exists already") from None
    return User(username, role)


def set_password(ledger: Ledger, username: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"the password must be at least {MIN_PASSWORD} characters")
    with ledger.tx() as conn:
        res = conn.execute(
            users.update()
            .where(users.c.username == username)
            .values(password_hash=hash_password(password), updated_at=utcnow())
        )
        if res.rowcount != 1:
            raise ConfigError(f"no user named {username!r}")
        conn.execute(web_sessions.delete().where(web_sessions.c.username == username))
        ledger.audit(
            conn, connection=None, entity="user", key=username, action="password_changed", actor="cli"
        )


def remove_user(ledger: Ledger, username: str) -> None:
    with ledger.tx() as conn:
        res = conn.execute(users.delete().where(users.c.username == username))
        if res.rowcount != 1:
            raise ConfigError(f"no user named {username!r}")
        conn.execute(web_sessions.delete().where(web_sessions.c.username == username))
        ledger.audit(conn, connection=None, entity="user", key=username, action="user_removed", actor="cli")


def list_users(ledger: Ledger) -> list[dict[str, object]]:
    with ledger.tx() as conn:
        q = sa.select(users.c.username, users.c.role, users.c.disabled, users.c.created_at).order_by(
            users.c.username
        )
        return [dict(r) for r in conn.execute(q).mappings()]


def authenticate(ledger: Ledger, username: str, password: str) -> User | None:
    with ledger.tx() as conn:
        row = (
            conn.execute(sa.select(users).where(users.c.username == username, users.c.disabled.is_(False)))
            .mappings()
            .first()
        )
    if row is None:
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, str(row["password_hash"])):
        return None
    return User(str(row["username"]), str(row["role"]))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(ledger: Ledger, user: User, *, source: str) -> tuple[str, Session]:
    """A new session: (cookie value, session). The login is audited."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    with ledger.tx() as conn:
        conn.execute(web_sessions.delete().where(web_sessions.c.expires_at < now))
        conn.execute(
            web_sessions.insert().values(
                token_hash=_token_hash(token),
                username=user.username,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
        ledger.audit(
            conn,
            connection=None,
            entity="user",
            key=user.username,
            action="login",
            actor=f"web:{user.username}",
            details={"from": source},
        )
    return token, Session(user, csrf)


def load_session(ledger: Ledger, token: str | None) -> Session | None:
    if not token or len(token) > 200:
        return None
    with ledger.tx() as conn:
        q = (
            sa.select(web_sessions.c.csrf_token, users.c.username, users.c.role)
            .join(users, users.c.username == web_sessions.c.username)
            .where(
                web_sessions.c.token_hash == _token_hash(token),
                web_sessions.c.expires_at > utcnow(),
                users.c.disabled.is_(False),
            )
        )
        row = conn.execute(q).mappings().first()
    if row is None:
        return None
    return Session(User(str(row["username"]), str(row["role"])), str(row["csrf_token"]))


def end_session(ledger: Ledger, token: str | None) -> None:
    if not token:
        return
    with ledger.tx() as conn:
        conn.execute(web_sessions.delete().where(web_sessions.c.token_hash == _token_hash(token)))
