"""Visma.net change notifications (webhooks): receive, verify, mark the entity stale, refresh it.

``signature``  HMAC-SHA256 over the raw body, base64, compared in constant time
``notice``     the thin notice we expect (entity, keys, tenant, time) -> the cache entry it names
``stale``      per connection, the entities notified since the last refresh, and a wake-up
``receiver``   the HTTP endpoint: refuses what is unsigned, stale, replayed or for no known tenant
``apply``      between two polls of ``serve``: refresh just those entities, replay, post

Polling stays the safety net: nothing here is needed for a document to post eventually.
"""
