"""An extraction chunk function whose worker process dies on a page named "die" (for the test
that a broken worker pool does not stop a run)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from monitor.extract import ExtractFailure, extract_pages
from monitor.models import Article, Page
from monitor.prepare import Preparation


def extract_or_die(pages: Sequence[Page], how: Preparation) -> list[Article | ExtractFailure]:
    """Like extract_pages, but a chunk with a "die" page kills its worker (as the OOM killer
    would)."""
    if any("die" in page.url for page in pages):
        os._exit(1)
    return extract_pages(pages, how)
