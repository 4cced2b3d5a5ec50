"""Extraction in worker processes while fetching goes on.

Fetched pages are handed over one by one (`add`); they leave in chunks, small enough that the
workers start while fetching goes on and finish together, large enough to amortise pickling.
Each worker extracts and prepares its chunk (`extract.extract_pages`: text, hash, signatures,
classification, compressed HTML), so the main process only stores. Trafilatura is CPU-bound and
the GIL serialises it: processes, not threads.

The pool is a local forkserver pool of `[runner] workers` processes, or an executor the caller
passes (a Dask cluster's, monitor/runners.py). A worker that dies (killed, out of memory) breaks a
local pool: its chunk is recorded as failed and a new pool takes the later chunks, at most
`MAX_POOL_RESTARTS` times a run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import BrokenExecutor

from monitor.extract import ExtractFailure, extract_pages
from monitor.models import Article, Page
from monitor.prepare import Preparation
from monitor.progress import Progress

log = logging.getLogger(__name__)

MAX_POOL_RESTARTS = 3
Extracted = Article | ExtractFailure


def chunk_size(n_pages: int, workers: int) -> int:
    """Pages per chunk: at most 8, fewer when there are few pages per worker."""
    return max(1, min(8, n_pages // max(workers * 8, 1)))


def _local_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    # forkserver: workers do not inherit the event loop's threads and sockets; preloading the
    # extractor makes each worker a cheap fork of a server that imported trafilatura once.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["monitor.extract", "monitor.classify", "datasketch"])
    return concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context)


def _start_workers(pool: concurrent.futures.Executor, workers: int) -> None:
    """Start the pool's worker processes (each submit starts one while none is idle)."""
    try:
        for _ in range(workers):
            pool.submit(int)
    except (BrokenExecutor, RuntimeError):
        pass  # the first chunk's submit meets the same error and records it


class ExtractionPool:
    """Pages in, extracted articles (or failures) out, by URL; see the module docstring."""

    def __init__(
        self,
        how: Preparation,
        *,
        workers: int,
        expected: int,
        progress: Progress,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        self._work = functools.partial(extract_pages, how=how)
        self._workers = workers
        self._chunk = chunk_size(expected, workers)
        self._progress = progress
        self._own = executor is None
        self._pool = _local_pool(workers) if executor is None else executor
        self._pools = [self._pool] if self._own else []
        self._loop = asyncio.get_running_loop()
        # The first worker's start waits for the forkserver to import the extractor (0.7 s);
        # done from a thread, the event loop fetches meanwhile and the chunks wait in `_ready`.
        self._warming = (
            self._loop.run_in_executor(None, _start_workers, self._pool, workers)
            if self._own
            else None
        )
        self._batch: list[Page] = []
        self._ready: list[list[Page]] = []
        self._sent: list[tuple[list[Page], asyncio.Future[list[Extracted]]]] = []

    def add(self, page: Page) -> None:
        """Queue one fetched page; a full chunk goes to the workers."""
        self._batch.append(page)
        if len(self._batch) >= self._chunk:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._ready.append(self._batch)
            self._batch = []
        if self._warming is not None and not self._warming.done():
            return
        while self._ready:
            self._send(self._ready.pop(0))

    def _submit(self, pages: list[Page]) -> asyncio.Future[list[Extracted]]:
        future = self._loop.run_in_executor(self._pool, self._work, pages)
        future.add_done_callback(lambda _: self._progress.pages_extracted(len(pages)))
        return future

    def _send(self, pages: list[Page]) -> None:
        try:
            self._sent.append((pages, self._submit(pages)))
            return
        except (BrokenExecutor, RuntimeError) as exc:
            # A worker died: the pool refuses every later chunk.
            broken: BaseException = exc
        if self._own and len(self._pools) <= MAX_POOL_RESTARTS:
            log.warning("extraction worker pool broke (%r); starting a new one", broken)
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = _local_pool(self._workers)
            self._pools.append(self._pool)
            try:
                self._sent.append((pages, self._submit(pages)))
                return
            except (BrokenExecutor, RuntimeError) as exc:
                broken = exc
        failed: asyncio.Future[list[Extracted]] = self._loop.create_future()
        failed.set_exception(broken)  # these pages are recorded as "worker failed"
        self._progress.pages_extracted(len(pages))
        self._sent.append((pages, failed))

    async def results(self) -> dict[str, Extracted]:
        """Send what is left, wait for every chunk; each page's article or failure by URL."""
        if self._warming is not None:
            await asyncio.wait([self._warming])
        self._flush()
        outputs = list(await asyncio.gather(*(f for _, f in self._sent), return_exceptions=True))
        await self._retry_broken(outputs)
        extracted: dict[str, Extracted] = {}
        for (pages, _), output in zip(self._sent, outputs, strict=True):
            items: Sequence[Extracted]
            if isinstance(output, BaseException):  # a worker died: the chunk failed, run goes on
                log.warning("extraction of %d pages failed: %r", len(pages), output)
                reason = f"worker failed: {output!r}"
                items = [ExtractFailure(p.url, p.source, reason) for p in pages]
            else:
                items = output
            for page, item in zip(pages, items, strict=True):
                extracted[page.url] = item
        return extracted

    async def _retry_broken(self, outputs: list[list[Extracted] | BaseException]) -> None:
        """A dead worker takes down every chunk the pool held at the time, not only its own:
        those chunks go again, one at a time on a new pool, so only the chunk that kills its
        worker again is lost (at most MAX_POOL_RESTARTS new pools a run)."""
        if not self._own:
            return
        for i, output in enumerate(outputs):
            if not isinstance(output, BrokenExecutor):
                continue
            pages = self._sent[i][0]
            for _attempt in range(2):
                try:
                    outputs[i] = await self._loop.run_in_executor(self._pool, self._work, pages)
                    break
                except BrokenExecutor as exc:  # refused (the pool broke before) or broke on it
                    outputs[i] = exc
                    if len(self._pools) > MAX_POOL_RESTARTS:
                        return
                    log.warning("extraction worker pool broke (%r); starting a new one", exc)
                    self._pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = _local_pool(self._workers)
                    self._pools.append(self._pool)

    def close(self) -> None:
        """Shut down the pools this object started (not a caller's executor)."""
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)
