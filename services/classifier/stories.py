"""Story ids for near-duplicate items: MinHash LSH over word shingles, bounded by a time window.

Syndicated copies and light rewrites of one report share a story id, so the incident stage can
count them as one source. The index is pure: signatures and story ids live in a
``MutableMapping[str, bytes]`` given by the caller (a faust table with a changelog in the
service, a dict in tests); the LSH itself is in memory and :meth:`StoryIndex.rebuild` recreates
it from that mapping after a restart. The window is event time (``published_at``): entries older
than the newest publication time seen minus the window are dropped from the index and the
mapping, and the mapping never holds more than ``max_items`` entries.

Cost: about 28 microseconds per item on the classifier benchmark's items (2 cores; the previous
implementation, signature version 3, took about 55), bounded by ``_MAX_SHINGLES``. Per item the
MinHash is a fixed handful of numpy calls, whatever the number of words: the opening's words go
into one fixed-width array in which the n-gram starting at each word is a run of 64-bit lanes, so
one overlapping view and one product (odd multipliers, mod 2^64) hash all n-grams; permutation j
of a shingle hash x is the high half of ``a_j * x + b_j`` (mod 2^64, ``a_j`` odd: multiply-add-
shift hashing), computed for all permutations and shingles at once. The LSH is a dict of band
keys (slices of the signature's bytes, computed once per item); the band layout is chosen like
datasketch's ``MinHashLSH`` does for the threshold (:func:`band_layout`), without importing it
(it pulls in SciPy: ~75 MB of memory per process for one integral). Candidates are compared as integers: the
signature XOR the candidate's, with its 32-bit lanes folded and counted by ``int.bit_count``. An
item whose opening is word for word that of an item in the window (a syndicated copy) takes that
item's story without any MinHash work.

Signatures are versioned (``"v"`` in the stored entry). An entry stored with another signature
version keeps its story id for its item (a redelivered item gets the same story) but takes no
part in matching until it leaves the window.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import json
import operator
import sys
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

# Words split on whitespace once punctuation became a space. The text is encoded as UTF-8 first:
# bytes.translate with a 256-byte table (which also cases ASCII letters down) is far cheaper than
# str.translate or a regular expression; text with non-ASCII characters is cased down as str and
# its few non-ASCII punctuation marks are replaced as byte strings.
_ASCII_PUNCTUATION = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_SEPARATORS = bytes(32 if chr(c).encode() in _ASCII_PUNCTUATION else c for c in range(256))
_LOWER_SEPARATORS = bytes(_SEPARATORS[c] + 32 if 65 <= c <= 90 else _SEPARATORS[c] for c in range(256))
_OTHER_PUNCTUATION = tuple(c.encode() for c in "\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00ab\u00bb")
_CHARS_PER_WORD = 10  # generous: only the opening words are used, so only the opening is read
_MAX_SHINGLES = 64  # the opening (title and lead) is enough to recognise a copy; bounds the cost
_WORD_BYTES = 16  # a word's hash covers its first 16 bytes
_SIG_DTYPE = np.uint32
_SIG_BYTES = np.dtype(_SIG_DTYPE).itemsize
_SIG_VERSION = 4  # 4: multiply-add-shift permutations of 64-bit shingle hashes (3: MurmurHash mixing)
_MAX_CANDIDATES = 16
_INDEXED_PER_STORY = 3  # a burst of copies of one story must not make every lookup slower
# A word is _WORD_BYTES bytes (zero-padded) read as little-endian 64-bit lanes, on any platform.
_WORD_DTYPE = np.dtype(f"S{_WORD_BYTES}")
_LANE = np.dtype("<u8")
_LANES_PER_WORD = _WORD_BYTES // _LANE.itemsize
_HIGH_HALF = 1 if sys.byteorder == "little" else 0  # index of a uint64's high half among 2 uint32


@dataclass(frozen=True)
class StoryConfig:
    """``threshold`` is the Jaccard similarity of shingle sets above which two items are one story."""

    threshold: float = 0.5
    num_perm: int = 32
    shingle_words: int = 3
    window: timedelta = timedelta(hours=72)
    max_items: int = 50_000
    seed: int = 20251019


@dataclass(slots=True)
class _Entry:
    story: str
    published: float
    # The signature's bytes read as one little-endian integer (lane i: permutation i). None: a
    # word-for-word copy, or another signature version.
    signature: int | None
    indexed: bool
    opening: bytes | None  # digest of the opening's words, for word-for-word copies


@functools.lru_cache(maxsize=32)
def band_layout(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands and rows per band of an LSH over ``num_perm`` permutations that minimise the mean of
    the false-positive and false-negative probability masses around ``threshold`` (the
    optimisation of datasketch's ``MinHashLSH`` with equal weights; the integrals numerically)."""
    below = np.linspace(0.0, threshold, 1001)
    above = np.linspace(threshold, 1.0, 1001)
    best, layout = float("inf"), (1, 1)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            false_positive = np.trapezoid(1.0 - (1.0 - below**rows) ** bands, below)
            false_negative = np.trapezoid((1.0 - above**rows) ** bands, above)
            error = 0.5 * float(false_positive) + 0.5 * float(false_negative)
            if error < best:
                best, layout = error, (bands, rows)
    return layout


class _Bands:
    """Banded LSH: an item is a candidate when one band of its signature equals one of ours.

    All bands share one dict (a band of one position equal to a band of another is a rare extra
    candidate, and every candidate's similarity is checked anyway). Most buckets hold one item:
    such a bucket is the item id itself, a list only from the second item on (fewer objects for
    the garbage collector to track).
    """

    def __init__(self, bands: int, rows: int) -> None:
        width = rows * _SIG_BYTES
        self._slices = [slice(i * width, (i + 1) * width) for i in range(bands)]
        self._slicer = operator.itemgetter(*self._slices)
        self._buckets: dict[bytes, str | list[str]] = {}

    def keys(self, raw: bytes) -> Sequence[bytes]:
        """The band keys of a signature's bytes (slicing bytes is far cheaper than slicing arrays)."""
        if len(self._slices) == 1:
            return (raw[self._slices[0]],)
        keys: tuple[bytes, ...] = self._slicer(raw)  # all slices in one call
        return keys

    def insert(self, key: str, bands: Sequence[bytes]) -> None:
        buckets = self._buckets
        for band in bands:
            bucket = buckets.setdefault(band, key)
            if bucket is key:
                continue
            if isinstance(bucket, str):
                if bucket != key:
                    buckets[band] = [bucket, key]
            elif key not in bucket:
                bucket.append(key)

    def remove(self, key: str, bands: Sequence[bytes]) -> None:
        buckets = self._buckets
        for band in bands:
            bucket = buckets.get(band)
            if bucket is None:
                continue
            if isinstance(bucket, str):
                if bucket == key:
                    del buckets[band]
            elif key in bucket:
                bucket.remove(key)
                if len(bucket) == 1:
                    buckets[band] = bucket[0]

    def query(self, bands: Sequence[bytes], limit: int) -> list[str]:
        hits = [bucket for bucket in map(self._buckets.get, bands) if bucket is not None]
        if not hits:
            return []  # most items: no band in common with any item in the window
        found: dict[str, None] = {}
        for bucket in hits:
            if isinstance(bucket, str):
                found[bucket] = None
                if len(found) >= limit:
                    break
                continue
            for key in bucket:
                found[key] = None
                if len(found) >= limit:
                    return list(found)
        return list(found)


class StoryIndex:
    """Assigns story ids; the same item id always gets the same story id while it is in the window.

    With ``defer_writes``, the mapping is written only on :meth:`flush` (each write is a changelog
    record in the service, so the service writes once per batch).
    """

    def __init__(
        self,
        store: MutableMapping[str, bytes],
        config: StoryConfig | None = None,
        *,
        defer_writes: bool = False,
    ) -> None:
        self.config = config or StoryConfig()
        self.store = store
        self._defer = defer_writes
        self._pending: dict[str, bytes | None] = {}  # item id → entry to write (None: delete)
        rng = np.random.RandomState(self.config.seed)  # a fixed stream: the same in every process
        n = self.config.num_perm
        one, two = np.uint64(1), np.uint64(2)
        # An n-gram's hash: its words' lanes times odd 64-bit multipliers, summed (mod 2^64).
        lanes = _LANES_PER_WORD * self.config.shingle_words
        self._gram_mult = rng.randint(0, 1 << 63, size=lanes, dtype=np.uint64) * two + one
        # Permutation j of a shingle hash x: the high half of a_j * x + b_j (mod 2^64), a_j odd.
        # As full (num_perm, _MAX_SHINGLES) matrices: without broadcasting, the product with all
        # shingles and the sum are cheaper.
        a = rng.randint(0, 1 << 63, size=n, dtype=np.uint64) * two + one
        b = rng.randint(0, 1 << 64, size=n, dtype=np.uint64)
        self._a = np.ascontiguousarray(np.broadcast_to(a[:, None], (n, _MAX_SHINGLES)))
        self._b = np.ascontiguousarray(np.broadcast_to(b[:, None], (n, _MAX_SHINGLES)))
        self._sig_bytes = n * _SIG_BYTES
        self._lanes = sum(1 << (32 * i) for i in range(n))  # bit 0 of each 32-bit lane
        self._window_s = self.config.window.total_seconds()
        self._max_items = self.config.max_items
        self._band_layout = band_layout(self.config.threshold, n)
        self._lsh = _Bands(*self._band_layout)
        self._heap: list[tuple[float, str]] = []  # (published timestamp, item id), oldest first
        self._watermark = float("-inf")
        self._entries: dict[str, _Entry] = {}  # the mapping's content, decoded
        self._members: dict[str, int] = {}  # story → its items in the LSH
        self._openings: dict[bytes, str] = {}  # opening digest → the item in the window that has it

    def __len__(self) -> int:
        return len(self._heap)

    def words(self, title: str, body: str) -> list[bytes]:
        """The opening's words, lower-cased, punctuation removed (at most ``_MAX_SHINGLES`` n-grams)."""
        wanted = _MAX_SHINGLES + self.config.shingle_words - 1
        text = f"{title}\n{body[: _CHARS_PER_WORD * wanted]}"
        if text.isascii():
            opening = text.encode().translate(_LOWER_SEPARATORS)
        else:
            opening = text.lower().encode()
            for mark in _OTHER_PUNCTUATION:
                opening = opening.replace(mark, b" ")
            opening = opening.translate(_SEPARATORS)
        words = opening.split(None, wanted)
        del words[wanted:]  # the rest of the opening, unsplit
        return words

    def shingles(self, words: Sequence[bytes]) -> np.ndarray:
        """Stable 64-bit hashes of the word n-grams (the same in every process and platform)."""
        count = len(words)
        if not count:
            return np.empty(0, dtype=np.uint64)
        n = min(count, self.config.shingle_words)  # fewer words than an n-gram: one of them all
        # The n-gram starting at word i is the lanes of words i to i + n - 1, which follow each
        # other in a fixed-width array of the words: one overlapping view holds all n-grams, and
        # one product (uint64 wraps) hashes them all.
        fixed = np.array(words, dtype=_WORD_DTYPE)
        grams = np.ndarray(
            (count - n + 1, _LANES_PER_WORD * n), _LANE, fixed, 0, (_WORD_BYTES, _LANE.itemsize)
        )
        hashes: np.ndarray = grams @ self._gram_mult[: _LANES_PER_WORD * n]
        return hashes

    def signature(self, shingles: np.ndarray) -> np.ndarray:
        """The MinHash signature of a shingle set: per permutation, the least permuted hash."""
        count = len(shingles)
        if not count:
            return np.full(self.config.num_perm, np.iinfo(np.uint32).max, dtype=_SIG_DTYPE)
        if count == _MAX_SHINGLES:
            permuted = self._a * shingles  # uint64 arithmetic wraps (mod 2^64)
            permuted += self._b
        else:
            permuted = self._a[:, :count] * shingles
            permuted += self._b[:, :count]
        # The permuted hash is the high half; taking it keeps the order, so it is taken of the least.
        signature: np.ndarray = permuted.min(axis=1).view(np.uint32)[_HIGH_HALF::2]
        return signature

    def assign(self, item_id: str, title: str, body: str, published_at: datetime, now: datetime) -> str:
        """The story id of an item: that of its most similar recent item, or a new one."""
        known = self._entries.get(item_id)
        if known is not None:
            return known.story
        words = self.words(title, body)
        published = (now if now < published_at else published_at).timestamp()
        self._advance(published)
        if not words:
            story = "st-" + hashlib.blake2b(item_id.encode(), digest_size=8).hexdigest()
            raw = self.signature(self.shingles(words)).tobytes()
            self._add(
                item_id, story, published, raw, int.from_bytes(raw, "little"), self._lsh.keys(raw), None
            )
            return story
        opening = hashlib.blake2b(b" ".join(words), digest_size=12).digest()
        twin = self._entries.get(self._openings.get(opening, ""))
        if twin is not None and abs(twin.published - published) <= self._window_s:
            # A word-for-word copy: the same story, and nothing new for the LSH to learn.
            self._add(item_id, twin.story, published, None, None, None, opening)
            return twin.story
        raw = self.signature(self.shingles(words)).tobytes()
        bands = self._lsh.keys(raw)  # once per item: for the query and for the insert
        signature = int.from_bytes(raw, "little")
        match = self._best_match(signature, bands, published)
        if match is None:
            match = "st-" + hashlib.blake2b(item_id.encode(), digest_size=8).hexdigest()
        story = match
        self._add(item_id, story, published, raw, signature, bands, opening)
        return story

    def flush(self) -> int:
        """Write the entries added or dropped since the last flush; returns how many."""
        pending, self._pending = self._pending, {}
        for key, value in pending.items():
            if value is None:
                self.store.pop(key, None)
            else:
                self.store[key] = value
        return len(pending)

    def _best_match(self, signature: int, bands: Sequence[bytes], published: float) -> str | None:
        candidates = self._lsh.query(bands, _MAX_CANDIDATES)
        if not candidates:
            return None
        entries = self._entries
        window = self._window_s
        lanes = self._lanes
        perms = self.config.num_perm
        threshold = self.config.threshold
        best: tuple[int, float, str] | None = None
        for key in candidates:
            entry = entries.get(key)
            if entry is None or entry.signature is None or abs(entry.published - published) > window:
                continue
            # A 32-bit lane of the XOR is zero where the two signatures agree; folding each lane's
            # bits into its lowest bit and counting those gives the permutations that disagree.
            x = entry.signature ^ signature
            x |= x >> 16
            x |= x >> 8
            x |= x >> 4
            x |= x >> 2
            x |= x >> 1
            equal = perms - (x & lanes).bit_count()
            if equal / perms >= threshold:
                rank = (-equal, entry.published, entry.story)  # most similar, then the earliest
                if best is None or rank < best:
                    best = rank
        return None if best is None else best[2]

    def _write(self, item_id: str, value: bytes | None) -> None:
        if self._defer:
            self._pending[item_id] = value
        elif value is None:
            self.store.pop(item_id, None)
        else:
            self.store[item_id] = value

    def _add(
        self,
        item_id: str,
        story: str,
        published: float,
        raw: bytes | None,
        signature: int | None,
        bands: Sequence[bytes] | None,
        opening: bytes | None,
    ) -> None:
        """Store and index a new item's entry, then keep the index within ``max_items``."""
        # Formatted by hand (json.dumps costs about 3 microseconds more): the story id is "st-" and
        # hex digits (any other is quoted by json.dumps), the rest numbers and hex; rebuild() reads
        # it back with json.loads.
        quoted = f'"{story}"' if story.isascii() and story.replace("-", "").isalnum() else json.dumps(story)
        sig = "" if raw is None else f',"sig":"{raw.hex()}"'
        x = "" if opening is None else f',"x":"{opening.hex()}"'
        self._write(item_id, f'{{"story":{quoted},"t":{published!r},"v":{_SIG_VERSION}{sig}{x}}}'.encode())
        self._index(item_id, story, published, signature, bands, opening)
        if len(self._heap) > self._max_items:
            self._evict_over_capacity()

    def _index(
        self,
        item_id: str,
        story: str,
        published: float,
        signature: int | None,
        bands: Sequence[bytes] | None,
        opening: bytes | None,
    ) -> None:
        if item_id in self._entries:
            return
        if opening is not None:
            self._openings.setdefault(opening, item_id)
        # Only the first few items of a story go into the LSH: a story copied a hundred times
        # would otherwise fill its buckets and make every lookup slow. Later copies still match.
        indexed = False
        if bands is not None:
            members = self._members.get(story, 0)
            if members < _INDEXED_PER_STORY:
                indexed = True
                self._lsh.insert(item_id, bands)
                self._members[story] = members + 1
        self._entries[item_id] = _Entry(story, published, signature, indexed, opening)
        heapq.heappush(self._heap, (published, item_id))

    def _advance(self, published: float) -> None:
        if published > self._watermark:
            self._watermark = published
        horizon = self._watermark - self._window_s
        while self._heap and self._heap[0][0] < horizon:
            self._drop(heapq.heappop(self._heap)[1])

    def _evict_over_capacity(self) -> None:
        while len(self._heap) > self._max_items:
            self._drop(heapq.heappop(self._heap)[1])

    def _drop(self, item_id: str) -> None:
        entry = self._entries.pop(item_id, None)
        if entry is not None and entry.opening is not None and self._openings.get(entry.opening) == item_id:
            del self._openings[entry.opening]
        if entry is not None and entry.indexed and entry.signature is not None:
            self._lsh.remove(item_id, self._lsh.keys(entry.signature.to_bytes(self._sig_bytes, "little")))
            members = self._members.pop(entry.story, 0) - 1
            if members > 0:
                self._members[entry.story] = members
        self._write(item_id, None)

    def rebuild(self) -> int:
        """Recreate the in-memory index from the mapping (after a restart); returns the entries kept."""
        self._lsh = _Bands(*self._band_layout)
        self._heap = []
        self._entries = {}
        self._members = {}
        self._openings = {}
        self._pending = {}
        entries = [(k, json.loads(v)) for k, v in list(self.store.items()) if v is not None]
        entries.sort(key=lambda kv: (float(kv[1]["t"]), kv[0]))
        for item_id, entry in entries:
            signature = bands = opening = None
            if entry.get("v") == _SIG_VERSION:
                raw = bytes.fromhex(entry["sig"]) if "sig" in entry else b""
                if len(raw) == self._sig_bytes:  # anything else takes no part in matching
                    signature = int.from_bytes(raw, "little")
                    bands = self._lsh.keys(raw)
                if "x" in entry:
                    opening = bytes.fromhex(entry["x"])
            self._index(item_id, str(entry["story"]), float(entry["t"]), signature, bands, opening)
            self._watermark = max(self._watermark, float(entry["t"]))
        if self._heap:
            self._advance(self._watermark)
            self._evict_over_capacity()
            self.flush()
        return len(self._heap)
