"""What analysts decide about storylines: rename, merge, split, detach.

Every decision is recorded (`core.storyline_actions`) and holds from then on: the stories it
moves are pinned where the analyst put them, so threading new reports, story merges and
reclassification leave them there; a merged storyline continues as the one it was merged into
(its id still finds it), and a renamed one keeps the analyst's title while its made title moves
on underneath.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor import storylines
from monitor.errors import ConfigError, StoreError
from monitor.models import make_id
from monitor.store import Store, utcnow
from monitor.store import storylines as storyline_store


def _existing(store: Store, storyline_id: str) -> str:
    with store.read_write() as con:
        resolved = storyline_store.resolve(con, storyline_id)
    if resolved is None:
        raise StoreError(f"no storyline {storyline_id!r} (see `monitor storylines`)")
    return resolved


def rename(store: Store, storyline_id: str, title: str) -> str:
    """Give a storyline an analyst's title; return the storyline's id."""
    title = title.strip()
    if not title:
        raise ConfigError("a storyline's title cannot be empty")
    target = _existing(store, storyline_id)
    now = utcnow()
    with store.write() as con:
        storyline_store.rename(con, target, title, now)
        storyline_store.record(con, "rename", now, storyline_id=target, title=title)
    return target


def merge(store: Store, keep_id: str, other_id: str) -> int:
    """Fold one storyline into another; return how many stories moved."""
    keep, other = _existing(store, keep_id), _existing(store, other_id)
    if keep == other:
        raise ConfigError(f"{keep_id} and {other_id} are the same storyline")
    now = utcnow()
    with store.write() as con:
        moved = storyline_store.stories_in(con, other)
        storyline_store.pin(con, dict.fromkeys(moved, keep))
        storyline_store.pin(con, dict.fromkeys(storyline_store.stories_in(con, keep), keep))
        storyline_store.merge_into(con, other, keep, now)
        storyline_store.record(
            con, "merge", now, storyline_id=keep, other_id=other, story_ids=moved
        )
    return len(moved)


def split(store: Store, storyline_id: str, story_ids: Sequence[str]) -> str:
    """Move some of a storyline's stories into a storyline of their own; return its id."""
    source = _existing(store, storyline_id)
    now = utcnow()
    with store.write() as con:
        members = set(storyline_store.stories_in(con, source))
        missing = sorted(set(story_ids) - members)
        if missing:
            raise ConfigError(f"not stories of storyline {source}: {', '.join(missing)}")
        if not story_ids or set(story_ids) == members:
            raise ConfigError("a split takes some of the storyline's stories, not none or all")
        df, n_stories = storyline_store.actor_counts(con)
        idf = storylines.actor_idf(df, n_stories)
        line = storylines.lines_of({"": storyline_store.threads(con, story_ids)}, idf)[0]
        new_id = make_id(f"storyline:split:{source}:{','.join(sorted(story_ids))}")
        storyline_store.create(con, new_id, storylines.title_of(line, idf), now)
        storyline_store.pin(con, dict.fromkeys(story_ids, new_id))
        storyline_store.pin(con, dict.fromkeys(members - set(story_ids), source))
        storyline_store.record(
            con, "split", now, storyline_id=source, other_id=new_id, story_ids=story_ids
        )
    return new_id


def detach(store: Store, story_ids: Sequence[str]) -> int:
    """Let stories stand alone, in no storyline, for good; return how many."""
    if not story_ids:
        raise ConfigError("name the stories to detach")
    now = utcnow()
    with store.write() as con:
        missing = sorted(set(story_ids) - set(storyline_store.existing_stories(con, story_ids)))
        if missing:
            raise ConfigError(f"no such stories: {', '.join(missing)}")
        storyline_store.pin(con, dict.fromkeys(story_ids, None))
        storyline_store.record(con, "detach", now, story_ids=story_ids)
    return len(story_ids)
