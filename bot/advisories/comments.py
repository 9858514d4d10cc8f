"""Advisory comments that are posted exactly once, even across crashes and retries.

Each such comment starts with a hidden marker (`<!-- ghsa-bot:NAME -->`). The
store records that a post was attempted before sending it and that it was
done after; only when an attempt is recorded without its completion (the
process died in between) are the advisory's comments read to look for the
marker. The normal path costs one POST and no extra read.
"""

from __future__ import annotations

from bot.advisories.store import AdvisoryStore
from bot.github.client import GitHubClient

# GitHub's limit on a comment's body; anything longer is cut with a note.
COMMENT_LIMIT = 65_536
CUT = "\n\n(Cut here: the rest would be longer than GitHub allows in one comment.)\n"


def marker(name: str) -> str:
    return f"<!-- ghsa-bot:{name} -->"


def comments_url(repository: str, ghsa_id: str) -> str:
    return f"/repos/{repository}/security-advisories/{ghsa_id}/comments"


async def post_once(
    client: GitHubClient,
    store: AdvisoryStore,
    *,
    repository: str,
    ghsa_id: str,
    name: str,
    body: str,
    now: float,
) -> bool:
    """Post `body` under marker `name` unless it is already there; True if posted now."""
    return await post_once_at(
        client,
        store,
        url=comments_url(repository, ghsa_id),
        key=f"comment:{name}:{repository}:{ghsa_id}",
        name=name,
        body=body,
        now=now,
    )


async def post_once_at(
    client: GitHubClient,
    store: AdvisoryStore,
    *,
    url: str,
    key: str,
    name: str,
    body: str,
    now: float,
) -> bool:
    """Post `body` to the comments at `url` once, keyed by `key` (an issue's comments too)."""
    if await store.effect_done(key):
        return False
    tag = marker(name)
    if await store.effect_done(key + ":attempted"):
        # An earlier attempt may have posted before it died: look for the marker.
        bodies = [str(comment.get("body") or "") async for comment in client.getiter(url)]
        if any(tag in text for text in bodies):
            await store.record_effect(key, at=now)
            return False
    await store.record_effect(key + ":attempted", at=now)
    text = f"{tag}\n{body.strip()}\n"
    if len(text) > COMMENT_LIMIT:  # GitHub would refuse it (422) on every retry
        text = text[: COMMENT_LIMIT - len(CUT)] + CUT
    await client.post(url, data={"body": text})
    await store.record_effect(key, at=now)
    return True
