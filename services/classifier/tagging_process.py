"""The classifier's tagging process: ``python -m services.classifier.tagging_process FD TAXONOMY
GAZETTEER``, started by :class:`~services.classifier.core_process.ProcessCore`.

It loads the tagger from the same files as the service, says it is ready on the connection
(a socket inherited as file descriptor ``FD``), then answers one batch at a time: raw values with
their story ids in, the batch's items out (:class:`~services.classifier.batch_tagger.BatchTagger`).
It is a fresh interpreter that imports the tagger and little else (no faust, Kafka client or
story index), so it holds only what tagging needs; a forked copy of the service would carry
every page of the service as well.

It ignores SIGINT (a terminal's Ctrl-C reaches the whole process group: the service decides when
to stop) and ends when the service closes the connection or dies (end of file).
"""

from __future__ import annotations

import gc
import signal
import sys
from multiprocessing.connection import Connection
from pathlib import Path

READY = "ready"


def serve(conn: Connection, taxonomy_file: Path, gazetteer_path: Path) -> None:
    """Load the tagger, report ``(READY, taxonomy version)`` or the failure, then tag batches."""
    try:
        from services.classifier.batch_tagger import BatchTagger
        from services.classifier.tagger import load_tagger

        tagger = load_tagger(taxonomy_file, gazetteer_path)
    except Exception as exc:  # reported to the service, which fails its start with it
        conn.send(RuntimeError(f"loading the tagger failed: {type(exc).__name__}: {exc}"))
        return
    batches = BatchTagger(tagger)
    gc.freeze()  # the tagger's many objects live as long as the process: no collection scans them
    conn.send((READY, tagger.taxonomy.version))
    while True:
        try:
            values, stories, now = conn.recv()
        except (EOFError, OSError):
            return
        result: object
        try:
            result = batches.tag(values, stories, now)
        except Exception as exc:  # each value is isolated inside; this would be a bug, reported whole
            result = exc
        try:
            conn.send(result)
        except OSError:
            return


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m services.classifier.tagging_process FD TAXONOMY GAZETTEER", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(int(argv[0]))
    try:
        serve(conn, Path(argv[1]), Path(argv[2]))
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
