"""The reader's pages: Starlette routes over the library, rendered by Jinja2 with autoescaping.

Every page is plain HTML that works without script; /static/reader.js only adds keyboard
shortcuts. Routes are CONTRACT.md's (`monitor web`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from monitor import search as search_mod
from monitor.digest.build import MAX_ACTORS, MAX_FIGURES, assemble_story
from monitor.digest.chart import timeline_chart
from monitor.digest.model import ACTOR_KINDS
from monitor.digest.render import add_common_filters, safe_href
from monitor.digest.storyline import storyline_view
from monitor.errors import LabelError, MonitorError, SearchError, StoreError
from monitor.labelling import STANCES, apply_labels, make_label
from monitor.models import Label
from monitor.settings import Settings
from monitor.store import reader as reader_store
from monitor.store import storylines as storyline_store
from monitor.web.library import FACETS, Filters, Library
from monitor.web.security import LOOPBACK_HOSTS, Guard

log = logging.getLogger(__name__)

SEARCH_PAGE = 20
FEED_SIZE = 50
FACET_NAMES = {
    "outlet": "Outlet",
    "language": "Language",
    "event": "Event type",
    "stance": "Stance",
    "storyline": "Storyline",
    "month": "Month",
}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # no XML 1.0 character
LANGUAGES = {"en": "English", "ar": "Arabic", "fr": "French", "ku": "Kurdish", "fa": "Persian"}
STATIC = {
    "reader.css": ("monitor.web", "static/reader.css", "text/css"),
    "reader.js": ("monitor.web", "static/reader.js", "text/javascript"),
    "digest.css": ("monitor.digest", "templates/digest.css", "text/css"),
}


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PackageLoader("monitor.web", "templates"),
                jinja2.PackageLoader("monitor.digest", "templates"),  # the timeline chart
            ]
        ),
        autoescape=True,  # everything from an article is escaped
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    add_common_filters(env)
    env.filters["href"] = safe_href
    env.filters["textdir"] = _text_dir
    env.filters["xml"] = lambda value: _NOT_XML.sub("", str(value))
    env.globals["LANGUAGES"] = LANGUAGES
    env.globals["FACET_NAMES"] = FACET_NAMES
    env.globals["STANCE_CHOICES"] = STANCES
    return env


_RTL_LANGUAGES = ("ar", "fa", "ur", "he", "ckb")
_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_LETTER = re.compile(r"[^\W\d_]")


def _text_dir(text: object, language: str | None = None) -> Markup:
    """The `lang` and `dir` attributes of a piece of text: right to left when it is written
    mostly in Arabic script (whatever the stored language says: a page's `<html lang>` can be
    wrong), else in the stored language's direction, else the browser's guess."""
    sample = str(text or "")[:2000]
    letters = len(_LETTER.findall(sample))
    arabic = len(_ARABIC_SCRIPT.findall(sample))
    if letters and arabic / letters >= 0.3:
        code = language if language in _RTL_LANGUAGES else "ar"
        return Markup(' lang="{}" dir="rtl"').format(code)
    if language and language not in _RTL_LANGUAGES:
        return Markup(' lang="{}" dir="ltr"').format(language)
    return Markup(' dir="auto"')


def _local(target: str | None, fallback: str) -> str:
    """A redirect target only if it is a path on this site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return fallback


class Reader:
    """The routes of one reader process."""

    def __init__(self, library: Library, settings: Settings, guard: Guard) -> None:
        self.library = library
        self.settings = settings
        self.guard = guard
        self.env = _env()
        self.index = search_mod.SearchIndex(search_mod.index_path(library.store.path))

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        """Render a template with what every page needs."""

        def csrf(path: str) -> str:
            """The CSRF token of the form posting to `path`."""
            return self.guard.csrf_token(request.state.browser, path)

        html = self.env.get_template(name).render(
            request=request, csrf=csrf, query=request.query_params.get("q", ""), **context
        )
        return HTMLResponse(html, status_code=status)

    def missing(self, request: Request, what: str) -> Response:
        """A 404 page."""
        return self.page(request, "error.html.j2", 404, title="Not found", message=what)

    # ---------------------------------------------------------------------------- pages

    def home(self, request: Request) -> Response:
        """The reading list: unread first, with facets."""
        params = request.query_params
        values = tuple((f, params[f]) for f in FACETS if params.get(f))
        try:
            page = max(1, int(params.get("page", "1")))
        except ValueError:
            page = 1
        filters = Filters(
            values=values,
            show="all" if params.get("show") == "all" else "unread",
            scope="all" if params.get("scope") == "all" else "relevant",
            page=page,
        )
        listing = self.library.stories(filters)
        return self.page(request, "list.html.j2", listing=listing, link=_linker(params))

    def story(self, request: Request) -> Response:
        """One story: its reports side by side, who says what."""
        story_id = request.path_params["story_id"]
        row = self.library.story_row(story_id)
        if row is None:
            return self.missing(request, f"There is no story {story_id}.")
        with self.library.reading() as con:
            window = reader_store.story_articles(con, story_id)
            if not window:
                return self.missing(request, f"There is no story {story_id}.")
            details = reader_store.story_details(
                con,
                window,
                title=row["title"],
                actor_kinds=ACTOR_KINDS,
                max_actors=MAX_ACTORS,
                max_figures=MAX_FIGURES,
            )
            extras = reader_store.report_extras(con, [a.article_id for a in window])
        story = assemble_story(window, details, self.library.storyline_ref(row["storyline_id"]))
        return self.page(
            request,
            "story.html.j2",
            s=story,
            extras=extras,
            row=row,
            next_id=self.library.next_unread(story_id),
        )

    def article(self, request: Request, *, error: str | None = None) -> Response:
        """One article with the label form."""
        article_id = request.path_params["article_id"]
        with self.library.reading() as con:
            art = reader_store.article(con, article_id)
        if art is None:
            return self.missing(request, f"There is no article {article_id}.")
        return self.page(
            request,
            "article.html.j2",
            400 if error else 200,
            a=art.fields,
            art=art,
            error=error,
            labelled=request.query_params.get("labelled") == "1",
        )

    def storylines(self, request: Request) -> Response:
        """Every storyline, the most recently active first."""
        with self.library.reading() as con:
            lines = storyline_store.summaries(con)
        return self.page(request, "storylines.html.j2", lines=lines)

    def storyline(self, request: Request) -> Response:
        """One storyline as a timeline."""
        storyline_id = request.path_params["storyline_id"]
        try:
            with self.library.reading() as con:
                view = storyline_view(con, storyline_id)
        except StoreError as exc:
            return self.missing(request, str(exc))
        chart = timeline_chart(list(view.days))
        return self.page(request, "storyline.html.j2", v=view, s=view.summary, chart=chart)

    def search(self, request: Request) -> Response:
        """Ranked full-text search with highlighted snippets."""
        text = request.query_params.get("q", "").strip()
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        found, error = None, None
        if text:
            try:
                found = search_mod.run_search(
                    self.index,
                    self.library.reading,
                    text,
                    limit=SEARCH_PAGE,
                    offset=(page - 1) * SEARCH_PAGE,
                )
            except SearchError as exc:
                error = str(exc)
        return self.page(
            request, "search.html.j2", found=found, error=error, page=page, size=SEARCH_PAGE
        )

    def feed(self, request: Request) -> Response:
        """The relevant stories with the latest reports, as Atom."""
        stories = self.library.feed_stories(FEED_SIZE)
        with self.library.reading() as con:
            leads = reader_store.leads(con, [s["story_id"] for s in stories])
        base = str(request.base_url).rstrip("/")
        updated = max((s["last_seen_at"] for s in stories), default=datetime.now(UTC))
        xml = self.env.get_template("feed.atom.j2").render(
            stories=stories, leads=leads, base=base, updated=updated, rfc3339=_rfc3339
        )
        return Response(xml, media_type="application/atom+xml; charset=utf-8")

    def static(self, request: Request) -> Response:
        """The reader's own script and styles (nothing else is served from here)."""
        entry = STATIC.get(request.path_params["name"])
        if entry is None:
            return Response("not found", status_code=404, media_type="text/plain")
        package, path, media = entry
        body = resources.files(package).joinpath(path).read_bytes()
        response = Response(body, media_type=media)
        response.headers["Cache-Control"] = "max-age=3600"
        return response

    # ---------------------------------------------------------------------------- forms

    def _apply(self, label: Label) -> None:
        with self.library.writing():
            apply_labels(self.library.store, self.settings, [label])

    async def label(self, request: Request) -> Response:
        """`POST /articles/{id}/label`: the same label `monitor label` stores."""
        form = await request.form()
        if not self.guard.csrf_ok(request, _field(form, "csrf_token")):
            return self.page(request, "error.html.j2", 403, title="Refused", message=_CSRF_MESSAGE)
        article_id = request.path_params["article_id"]
        try:
            label = make_label(
                article_id,
                _field(form, "relevant") or "",
                _field(form, "stance"),
                _field(form, "note"),
            )
            await run_in_threadpool(self._apply, label)
        except LabelError as exc:
            return self.article(request, error=str(exc))
        return RedirectResponse(f"/articles/{article_id}?labelled=1#label", status_code=303)

    async def read(self, request: Request) -> Response:
        """`POST /stories/{id}/read`: mark a story read (read=0: unread)."""
        form = await request.form()
        if not self.guard.csrf_ok(request, _field(form, "csrf_token")):
            return self.page(request, "error.html.j2", 403, title="Refused", message=_CSRF_MESSAGE)
        story_id = request.path_params["story_id"]
        if self.library.story_row(story_id) is None:
            return self.missing(request, f"There is no story {story_id}.")
        await run_in_threadpool(self.library.mark, story_id, _field(form, "read") != "0")
        target = _local(_field(form, "next"), f"/stories/{story_id}")
        return RedirectResponse(target, status_code=303)


_CSRF_MESSAGE = "This form has expired or came from another page: reload the page and try again."


def _field(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _rfc3339(value: datetime) -> str:
    return value.replace(microsecond=0).isoformat() + ("Z" if value.tzinfo is None else "")


def _linker(params: Mapping[str, str]) -> Any:
    """A function that makes the list's URL with one parameter changed (None: removed)."""
    from urllib.parse import urlencode

    def link(**changes: str | None) -> str:
        """The list's URL with these parameters changed."""
        merged = {k: v for k, v in params.items() if k not in changes and k != "page"}
        merged.update({k: v for k, v in changes.items() if v is not None})
        query = urlencode(sorted(merged.items()))
        return "/" + (f"?{query}" if query else "")

    return link


def create_app(
    library: Library, settings: Settings, *, token: str | None, loopback: bool
) -> Starlette:
    """The reader as an ASGI app."""
    guard = Guard(token)
    reader = Reader(library, settings, guard)
    routes = [
        Route("/", reader.home),
        Route("/stories/{story_id}", reader.story),
        Route("/stories/{story_id}/read", reader.read, methods=["POST"]),
        Route("/articles/{article_id}", reader.article),
        Route("/articles/{article_id}/label", reader.label, methods=["POST"]),
        Route("/storylines", reader.storylines),
        Route("/storylines/{storyline_id}", reader.storyline),
        Route("/search", reader.search),
        Route("/feed.atom", reader.feed),
        Route("/static/{name}", reader.static),
    ]
    middleware = [Middleware(BaseHTTPMiddleware, dispatch=guard)]
    if loopback:  # a page on another site that resolves its own name to 127.0.0.1 gets 400
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS))

    async def unavailable(request: Request, exc: Exception) -> Response:
        """A MonitorError (an unreadable database ...) as a 503 page, in one line."""
        log.warning("reader: %s", exc)
        return reader.page(request, "error.html.j2", 503, title="Unavailable", message=str(exc))

    return Starlette(
        routes=routes, middleware=middleware, exception_handlers={MonitorError: unavailable}
    )
