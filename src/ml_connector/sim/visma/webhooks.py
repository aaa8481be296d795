"""The simulator's webhook sender: signed notifications of its master-data changes.

Configured through ``POST /_sim/webhooks`` (``GET`` shows the settings without the key, and the
counters)::

    {"url": "https://127.0.0.1:8471/webhooks/visma", "key": "...", "header": "X-Visma-Signature",
     "duplicates": 1, "lose_next": 0, "verify": true, "replay_last": false}

``duplicates``: extra copies of every notice (same body, same id); ``lose_next``: the next N
notices are not sent (as Visma does not retry a failed delivery); ``replay_last``: send the last
notice's exact bytes and signature again now; ``url`` null switches sending off. The body is the
thin notice ml_connector.webhooks.notice reads; the signature is HMAC-SHA256 of the body with the
key, base64-encoded (computed here on its own, not with the connector's code).

Sending happens on a thread of its own, after the change is committed, so a slow or absent
receiver never slows the API down.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2


@dataclass
class WebhookSettings:
    url: str | None = None
    key: str = ""
    header: str = "X-Visma-Signature"
    duplicates: int = 0
    lose_next: int = 0
    verify: bool | str = True  # False or a CA file for a receiver with a self-signed certificate


@dataclass
class _Counters:
    notices: int = 0
    sent: int = 0
    lost: int = 0
    failed: int = 0
    answers: dict[str, int] = field(default_factory=dict)


class WebhookSender:
    def __init__(self) -> None:
        self.settings = WebhookSettings()
        self.counters = _Counters()
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, bytes, str, bool | str]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._last: tuple[str, bytes, str, bool | str] | None = None

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            s = self.settings
            if "url" in body:
                url = body["url"]
                if url is not None and (
                    not isinstance(url, str) or not url.startswith(("http://", "https://"))
                ):
                    raise ValueError("'url' must be an http(s) URL or null")
                s.url = url
            if "key" in body:
                if not isinstance(body["key"], str):
                    raise ValueError("'key' must be a string")
                s.key = body["key"]
            if "header" in body:
                s.header = str(body["header"])
            for name in ("duplicates", "lose_next"):
                if name in body:
                    value = body[name]
                    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                        raise ValueError(f"'{name}' must be an integer >= 0")
                    setattr(s, name, value)
            if "verify" in body:
                if not isinstance(body["verify"], bool | str):
                    raise ValueError("'verify' must be true, false or a CA file path")
                s.verify = body["verify"]
            if body.get("replay_last") and self._last is not None:
                self._enqueue(self._last)
        return self.describe()

    def describe(self) -> dict[str, Any]:
        s, c = self.settings, self.counters
        return {
            "url": s.url,
            "key_set": bool(s.key),
            "header": s.header,
            "duplicates": s.duplicates,
            "lose_next": s.lose_next,
            "notices": c.notices,
            "sent": c.sent,
            "lost": c.lost,
            "failed": c.failed,
            "answers": dict(c.answers),
        }

    def notify(self, tenant_id: str, company_id: str, entity: str, event: str, keys: dict[str, Any]) -> None:
        """Queue one notice for a committed change (nothing when no URL is configured)."""
        with self._lock:
            s = self.settings
            if s.url is None:
                return
            self.counters.notices += 1
            body = json.dumps(
                {
                    "id": uuid.uuid4().hex,
                    "event": event,
                    "tenantId": tenant_id,
                    "companyId": company_id,
                    "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "entity": entity,
                    "keys": keys,
                },
                separators=(",", ":"),
            ).encode("utf-8")
            digest = hmac.new(s.key.encode("utf-8"), body, hashlib.sha256).digest()
            item = (s.url, body, base64.b64encode(digest).decode("ascii"), s.verify)
            self._last = item
            if s.lose_next > 0:
                s.lose_next -= 1
                self.counters.lost += 1
                return
            for _ in range(1 + s.duplicates):
                self._enqueue(item)

    def _enqueue(self, item: tuple[str, bytes, str, bool | str]) -> None:
        self._queue.put(item)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="visma-sim-webhooks", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        clients: dict[str, httpx2.Client] = {}
        while True:
            url, body, signature, verify = self._queue.get()
            if repr(verify) not in clients:
                trust = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
                clients[repr(verify)] = httpx2.Client(timeout=10.0, verify=trust)
            client = clients[repr(verify)]
            header = self.settings.header
            try:
                response = client.post(
                    url, content=body, headers={"Content-Type": "application/json", header: signature}
                )
                status = str(response.status_code)
                with self._lock:
                    self.counters.sent += 1
                    self.counters.answers[status] = self.counters.answers.get(status, 0) + 1
            except httpx2.HTTPError:
                with self._lock:
                    self.counters.failed += 1  # Visma does not retry either
