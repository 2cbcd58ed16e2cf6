"""Reading, parsing and planning an import's file beside the process that writes it.

Three ways, one result (the same planned chunks in file order):
- here, in the writing process (small files);
- in a forked process, when this process has a single thread (the CLI, benchmarks): it starts at
  once and inherits the planner with the account's phones;
- in a fresh interpreter (`python -m core.contacts._import_producer`) when threads make forking unsafe (the
  Streamlit and API servers; multiprocessing's spawn would re-run Streamlit's page script as
  `__main__`). The job goes to it pickled on stdin, with the file copied to an unnamed temporary
  file whose descriptor it inherits; the planned chunks come back pickled on stdout.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from core.contacts._csv_reading import CsvFormat, Record, open_text, records
from core.contacts._import_writing import PlannedChunk, Planner, Rejection

# Below these sizes another process costs more than it saves: a fork starts at once, a fresh
# interpreter takes about a second to import what it needs.
FORK_MIN_BYTES = 4 * 1024 * 1024
INTERPRETER_MIN_BYTES = 16 * 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]

# (rows of the file it covers, parsed rows, rejections)
Parsed = tuple[int, list[tuple], list[Rejection]]
# Picklable (a module-level function, or functools.partial of one): it may cross to another process.
ChunkParser = Callable[[list[Record]], Parsed]


def collect_young() -> None:
    """The cycle collector is paused during an import (see `_importer`); this finds any
    cycle a chunk made while it is still young and cheap to walk."""
    gc.collect(1)


class Producer:
    """Planned chunks of the file, in order (`planned`), from wherever they are made."""

    def __init__(
        self,
        parse: ChunkParser,
        planner: Planner,
        fileobj: BinaryIO,
        fmt: CsvFormat,
        stream: Iterator[Record],
        size: int,
        parallel: bool,
        chunk_rows: int,
    ) -> None:
        self.size = size
        self.parse, self.planner, self.chunk_rows = parse, planner, chunk_rows
        self.fileobj, self.fmt, self.stream = fileobj, fmt, stream
        self.parallel = parallel
        self.process: multiprocessing.process.BaseProcess | None = None
        self.interpreter: subprocess.Popen[bytes] | None = None
        self.spool: IO[bytes] | None = None

    def __enter__(self) -> Producer:
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)  # `with` does not when __enter__ fails
            raise
        return self

    def _start(self) -> None:
        if not self.parallel:
            return
        if _fork_is_safe():
            if self.size < FORK_MIN_BYTES:
                return
            context = multiprocessing.get_context("fork")
            self.queue: Any = context.Queue(maxsize=4)
            self.process = context.Process(
                target=produce,
                args=(self.fileobj, self.fmt, self.job, self.queue),
                daemon=True,
            )
            self.process.start()
        elif self.size >= INTERPRETER_MIN_BYTES:
            self._start_interpreter()

    def _start_interpreter(self) -> None:
        # Unnamed (O_TMPFILE on Linux): a server killed mid-import leaves nothing in TMPDIR; the
        # space is freed when the last of the two processes holding it is gone.
        self.spool = tempfile.TemporaryFile(prefix="import-")  # noqa: SIM115 - closed in __exit__
        self.fileobj.seek(0)
        shutil.copyfileobj(self.fileobj, self.spool, 1024 * 1024)
        self.spool.flush()
        descriptor = self.spool.fileno()
        self.interpreter = subprocess.Popen(
            [sys.executable, "-m", "core.contacts._import_producer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            pass_fds=(descriptor,),
        )
        stdin = self.interpreter.stdin
        assert stdin is not None
        # The child reads the whole job before it writes anything: no deadlock on the pipes.
        try:
            with stdin:
                pickle.dump((descriptor, self.fmt, self.job), stdin, protocol=5)
        except BrokenPipeError:
            # It stopped before reading its job; `planned` reports how it ended.
            with contextlib.suppress(BrokenPipeError):
                stdin.close()

    @property
    def job(self) -> Job:
        return Job(self.parse, self.planner, self.chunk_rows)

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None:
            if self.process.is_alive():
                self.process.terminate()
            self.process.join()
        if self.interpreter is not None:
            if self.interpreter.poll() is None:
                self.interpreter.kill()
            self.interpreter.wait()
            if self.interpreter.stdout is not None:
                self.interpreter.stdout.close()
        if self.spool is not None:
            self.spool.close()

    def planned(self) -> Iterator[PlannedChunk]:
        if self.process is not None:
            yield from _received(self.queue.get)
        elif self.interpreter is not None:
            yield from _received(self._read_pipe)
        else:
            for chunk in chunks(self.stream, self.chunk_rows):
                planned = self.planner.plan(*self.parse(chunk))
                planned.position = self.fileobj.tell()
                yield planned

    def _read_pipe(self) -> Any:
        assert self.interpreter is not None and self.interpreter.stdout is not None
        try:
            return pickle.load(self.interpreter.stdout)
        except EOFError:
            code = self.interpreter.wait()
            return f"it stopped (exit code {code})"


def _received(get: Callable[[], Any]) -> Iterator[PlannedChunk]:
    while True:
        item = get()
        if item is None:
            return
        if isinstance(item, str):
            raise RuntimeError(f"the CSV reading process failed: {item}")
        yield item


def _fork_is_safe() -> bool:
    """Forking a process that runs other threads can copy a lock some thread holds."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


@dataclass(frozen=True)
class Job:
    parse: ChunkParser
    planner: Planner
    chunk_rows: int


def produce(fileobj: BinaryIO, fmt: CsvFormat, job: Job, out: Any) -> None:
    """Read, parse and plan the whole file, chunk by chunk, into `out` (a queue); None ends it,
    a string says what went wrong."""
    try:
        text = open_text(fileobj, fmt.encoding)
        stream = records(text, fmt.delimiter)
        next(stream, None)  # the header
        for chunk in chunks(stream, job.chunk_rows):
            planned = job.planner.plan(*job.parse(chunk))
            planned.position = fileobj.tell()
            out.put(planned)
            collect_young()
        out.put(None)
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which raises
        out.put(f"{type(error).__name__}: {error}")


def chunks(stream: Iterator[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for record in stream:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Pipe:
    """`produce`'s queue, as pickles written one after another to a stream."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def put(self, item: Any) -> None:
        pickle.dump(item, self.stream, protocol=5)
        self.stream.flush()


def main() -> None:
    gc.disable()  # as in the writing process; young generations are collected per chunk
    descriptor, fmt, job = pickle.load(sys.stdin.buffer)
    with contextlib.suppress(BrokenPipeError), open(descriptor, "rb") as fileobj:
        fileobj.seek(0)  # the offset is shared with the parent, which left it at the end
        produce(fileobj, fmt, job, _Pipe(sys.stdout.buffer))


if __name__ == "__main__":
    main()
