"""Story ids for near-duplicate items: MinHash LSH over word shingles, bounded by a time window.

Syndicated copies and light rewrites of one report share a story id, so the incident stage can
count them as one source. The index is pure: signatures and story ids live in a
``MutableMapping[str, bytes]`` given by the caller (a faust table with a changelog in the
service, a dict in tests); the LSH itself is in memory and :meth:`StoryIndex.rebuild` recreates
it from that mapping after a restart. The window is event time (``published_at``): entries older
than the newest publication time seen minus the window are dropped from the index and the
mapping, and the mapping never holds more than ``max_items`` entries.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import re
import zlib
from collections import Counter
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from datasketch import MinHash, MinHashLSH

_WORD = re.compile(r"\w+")
_MAX_SHINGLES = 120  # the opening (title and lead) is enough to recognise a copy; bounds the cost
_SCHEME = "affine32"  # datasketch 2 default; fixed so stored signatures stay comparable
_SIG_DTYPE = np.uint32
_MAX_CANDIDATES = 32
_INDEXED_PER_STORY = 3  # a burst of copies of one story must not make every lookup slower


@dataclass(frozen=True)
class StoryConfig:
    """``threshold`` is the Jaccard similarity of shingle sets above which two items are one story."""

    threshold: float = 0.5
    num_perm: int = 64
    shingle_words: int = 3
    window: timedelta = timedelta(hours=72)
    max_items: int = 50_000
    seed: int = 20251019


@dataclass(frozen=True)
class _Entry:
    story: str
    published: float
    signature: np.ndarray
    indexed: bool


def _identity(value: int) -> int:
    return value


class StoryIndex:
    """Assigns story ids; the same item id always gets the same story id while it is in the window."""

    def __init__(self, store: MutableMapping[str, bytes], config: StoryConfig | None = None) -> None:
        self.config = config or StoryConfig()
        self.store = store
        self._perms = MinHash(
            num_perm=self.config.num_perm, seed=self.config.seed, scheme=_SCHEME
        ).permutations
        self._lsh = MinHashLSH(threshold=self.config.threshold, num_perm=self.config.num_perm)
        self._heap: list[tuple[float, str]] = []  # (published timestamp, item id), oldest first
        self._watermark = float("-inf")
        self._entries: dict[str, _Entry] = {}  # the mapping's content, decoded
        self._members: Counter[str] = Counter()  # story → its items in the LSH

    def __len__(self) -> int:
        return len(self._heap)

    def shingles(self, title: str, body: str) -> list[int]:
        """Stable 32-bit hashes of the word n-grams of title and body (the same in every process)."""
        words = _WORD.findall(f"{title}\n{body}".lower())
        n = self.config.shingle_words
        if len(words) < n:
            grams = [" ".join(words)] if words else []
        else:
            grams = [" ".join(words[i : i + n]) for i in range(min(len(words) - n + 1, _MAX_SHINGLES))]
        return [zlib.crc32(g.encode()) for g in grams]

    def minhash(self, shingles: list[int]) -> MinHash:
        m = MinHash(
            num_perm=self.config.num_perm, hashfunc=_identity, permutations=self._perms, scheme=_SCHEME
        )
        if shingles:
            m.update_batch(shingles)
        return m

    def assign(self, item_id: str, title: str, body: str, published_at: datetime, now: datetime) -> str:
        """The story id of an item: that of its most similar recent item, or a new one."""
        known = self._entries.get(item_id)
        if known is not None:
            return known.story
        shingles = self.shingles(title, body)
        published = min(published_at, now).timestamp()
        self._advance(published)
        m = self.minhash(shingles)
        story = None
        if shingles:
            story = self._best_match(m, published)
        if story is None:
            story = "st-" + hashlib.blake2b(item_id.encode(), digest_size=8).hexdigest()
        self._add(item_id, story, published, m)
        self._evict_over_capacity()
        return story

    def _best_match(self, m: MinHash, published: float) -> str | None:
        window = self.config.window.total_seconds()
        entries = [
            e
            for e in (self._entries.get(k) for k in itertools.islice(self._lsh.query(m), _MAX_CANDIDATES))
            if e is not None and abs(e.published - published) <= window
        ]
        if not entries:
            return None
        # One vectorised comparison of all candidates' signatures with this one.
        similarity = (np.stack([e.signature for e in entries]) == m.hashvalues).mean(axis=1)
        best = (
            min(
                (-float(sim), e.published, e.story)
                for sim, e in zip(similarity, entries, strict=True)
                if sim >= self.config.threshold
            )
            if bool((similarity >= self.config.threshold).any())
            else None
        )
        return None if best is None else best[2]

    def _add(self, item_id: str, story: str, published: float, m: MinHash) -> None:
        entry = {"story": story, "t": published, "sig": m.hashvalues.astype(_SIG_DTYPE).tobytes().hex()}
        self.store[item_id] = json.dumps(entry, separators=(",", ":")).encode()
        self._index(item_id, story, published, m)

    def _index(self, item_id: str, story: str, published: float, m: MinHash) -> None:
        if item_id in self._entries:
            return
        # Only the first few items of a story go into the LSH: a story copied a hundred times
        # would otherwise fill its buckets and make every lookup slow. Later copies still match.
        indexed = self._members[story] < _INDEXED_PER_STORY
        if indexed:
            self._lsh.insert(item_id, m)
            self._members[story] += 1
        self._entries[item_id] = _Entry(story, published, m.hashvalues, indexed)
        heapq.heappush(self._heap, (published, item_id))

    def _advance(self, published: float) -> None:
        if published > self._watermark:
            self._watermark = published
        horizon = self._watermark - self.config.window.total_seconds()
        while self._heap and self._heap[0][0] < horizon:
            self._drop(heapq.heappop(self._heap)[1])

    def _evict_over_capacity(self) -> None:
        while len(self._heap) > self.config.max_items:
            self._drop(heapq.heappop(self._heap)[1])

    def _drop(self, item_id: str) -> None:
        entry = self._entries.pop(item_id, None)
        if entry is not None and entry.indexed:
            self._lsh.remove(item_id)
            self._members[entry.story] -= 1
            if self._members[entry.story] <= 0:
                del self._members[entry.story]
        self.store.pop(item_id, None)

    def rebuild(self) -> int:
        """Recreate the in-memory index from the mapping (after a restart); returns the entries kept."""
        self._lsh = MinHashLSH(threshold=self.config.threshold, num_perm=self.config.num_perm)
        self._heap = []
        self._entries = {}
        self._members = Counter()
        entries = [(k, json.loads(v)) for k, v in list(self.store.items()) if v is not None]
        entries.sort(key=lambda kv: (float(kv[1]["t"]), kv[0]))
        for item_id, entry in entries:
            sig = np.frombuffer(bytes.fromhex(entry["sig"]), dtype=_SIG_DTYPE).copy()
            m = MinHash(hashvalues=sig, permutations=self._perms, scheme=_SCHEME)
            self._index(item_id, str(entry["story"]), float(entry["t"]), m)
            self._watermark = max(self._watermark, float(entry["t"]))
        if self._heap:
            self._advance(self._watermark)
            self._evict_over_capacity()
        return len(self._heap)
