"""A fast, deterministic generator of interchange files (docs/interchange.md) for the benchmarks.

``python bench/generate.py 100000`` writes ``bench/data/conversations-100000-seed1-v1.jsonl``
(or reuses it when it is already there). The same size, seed and generator version always give
the same bytes, so two runs of the benchmark import the same file.

The shape follows the shared fixture ``sample-conversations.jsonl``: merchants mostly from CN,
then the EU, TR, US, KR, UA and IN; about 5 messages a conversation (the merchant's opening, an
auto-reply, an agent's response after a log-normal delay, internal notes, follow-ups); status
changes with pending, on hold, solved then closed and reopened conversations, written in any
array order; 1-4 tags out of ~40 with clusters and strong pairs, sometimes spelt differently
(upper case, padded, full-width) so the importer's normalization is exercised; kinds, complaint
outcomes, outreach by the desk and spam. About 63% of the conversations fall in the benchmark's
one-year period (2021-11-01 to 2022-11-01) out of 2021-06-01 to 2023-01-01.

Speed matters more than elegance here (1M conversations, ~1 GB, in well under two minutes): the
lines are put together from pre-encoded JSON fragments and table look-ups, not ``json.dumps``.
"""

# The sample texts are Turkish, Chinese, Korean and Ukrainian on purpose (dotless i, full-width
# punctuation): the importer must carry them.
# ruff: noqa: RUF001

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TypeVar

#: Bump when the output changes, so cached files of an older shape are not reused.
GENERATOR_VERSION = 1
DATA_DIR = Path(__file__).resolve().parent / "data"

SPAN_START = datetime(2021, 6, 1, tzinfo=UTC)
SPAN_END = datetime(2023, 1, 1, tzinfo=UTC)
#: The report period the benchmark uses: 365 of the span's 579 days (63%).
PERIOD = ("2021-11-01", "2022-11-01")

T = TypeVar("T")

# --- weights ----------------------------------------------------------------------------------
# Merchant countries, case-folded counts from the shared fixture (3,000 conversations), with DE
# added for the sellers who move there.
COUNTRIES: dict[str, float] = {
    "CN": 2304, "TR": 93, "US": 85, "BE": 44, "SI": 42, "KR": 39, "FI": 30, "MT": 28,
    "SK": 24, "BG": 24, "GB": 24, "IE": 21, "PL": 20, "CZ": 18, "UA": 18, "IT": 16, "EE": 16,
    "HK": 16, "ES": 16, "LU": 15, "NL": 13, "CY": 12, "LT": 11, "IN": 10, "PT": 10, "DE": 10,
    "RU": 9, "GR": 9, "DK": 8, "HR": 7, "HU": 6, "FR": 6, "RO": 6, "AT": 4, "SE": 4,
}  # fmt: skip
#: Where the 1% of merchants who move go.
MOVES = {"TR": "DE", "CN": "HK", "UA": "PL", "RU": "LT", "HK": "CN", "US": "GB", "GB": "IE"}
LANGUAGES = {"CN": "zh-CN", "HK": "zh-HK", "TR": "tr", "US": "en-US", "GB": "en-GB", "KR": "ko",
             "UA": "uk", "RU": "ru", "IN": "hi", "DE": "de", "PL": "pl"}  # fmt: skip
CHANNELS = {"chat": 71.6, "email": 24.1, "web": 3.5, "api": 0.6, "phone": 0.2}
#: None = the field is left out (the default, `question`).
KINDS = {"question": 41.9, "request": 24.6, "complaint": 10.8, "proposal": 4.3, None: 18.4}
OUTCOMES = {"rejected": 43, "upheld": 22, "partially_upheld": 10, "withdrawn": 5.5,
            "no_action": 2.5, None: 17}  # fmt: skip
MERCHANT_STATUSES = {"active": 92.5, "potential": 6, "suspended": 1, "closed": 0.5}
TAG_COUNTS = {1: 45, 2: 32, 3: 17, 4: 6}
#: Offsets timestamps are written with (the same instant, spelt in different zones).
OFFSETS = {"Z": 30, "+00:00": 10, "+08:00": 25, "+01:00": 10, "-05:00": 8, "+05:30": 5,
           "+03:00": 7, "+09:00": 5}  # fmt: skip

# Tags: clusters of (display name, weight); tags used together come mostly from one cluster.
TAG_CLUSTERS: dict[str, tuple[float, list[tuple[str, float]]]] = {
    "moderation": (34, [
        ("moderation_description", 5), ("moderation_too_long", 5), ("moderation_image", 5),
        ("product_rejected", 2), ("category_question", 1), ("moderation_brand", 1),
        ("moderation_price", 0.6), ("product_blocked", 0.5)]),
    "logistics": (16, [
        ("EU_Joom_Logistics", 3), ("Europe Joom Logistics", 2), ("address_incomplete", 2),
        ("no_phone", 1.5), ("order_fulfillment_extend", 4), ("tracking_number", 1),
        ("parcel_lost", 0.8), ("customs_clearance", 0.5)]),
    "orders": (14, [
        ("order_cancel", 3), ("refund_request", 3), ("Europe order management", 1),
        ("Europe order information", 1.2), ("return_request", 1), ("buyer_dispute", 0.8),
        ("partial_refund", 0.5)]),
    "payments": (18, [
        ("payment_delay", 6), ("Europe invoice information", 1), ("invoice_commission", 1.2),
        ("payout_details", 1), ("vat_question", 0.6), ("currency_conversion", 0.4)]),
    "account": (12, [
        ("EU_account_issues", 1), ("EU_potential_merchant", 1.5), ("account_activation", 0.8),
        ("account_blocked", 0.6), ("password_reset", 0.5), ("kyc_documents", 0.7),
        ("store_settings", 0.4)]),
    "products": (6, [
        ("Europe product management", 1), ("product_upload", 1), ("stock_sync", 0.6),
        ("api_integration", 0.5), ("translation_request", 0.3)]),
}  # fmt: skip
#: Pairs merchants raise together; the second is added to the first a third of the time.
TAG_PARTNERS = {
    "address_incomplete": "no_phone", "no_phone": "address_incomplete",
    "EU_Joom_Logistics": "Europe Joom Logistics", "moderation_image": "product_rejected",
    "order_cancel": "refund_request", "Europe order management": "refund_request",
    "moderation_description": "moderation_too_long", "payment_delay": "invoice_commission",
}  # fmt: skip

SUBJECTS = [
    "Why was my invoice {n} commission calculated like this?",
    "Moderation of product {n} is taking too long.",
    "The customer address is incomplete for order {n}",
    "Please cancel order {n}",
    "Payout {n} has not arrived",
    "Ürün {n} neden reddedildi?",
    "订单 {n} 的买家地址不完整",
    "상품 {n} 심사가 너무 오래 걸립니다",
    "Замовлення {n}: повернення коштів",
    "Need help with my account",
    "",
]
BODIES = [
    "Hello, the customer address is incomplete, how do I ship order {n}?",
    "Why was my invoice {n} commission calculated like this?",
    "Moderation of product {n} is taking too long.",
    "Ürün {n} neden reddedildi? Açıklama doğru.",
    "Sipariş {n} iptali lütfen.",
    "订单 {n} 的买家地址不完整，请帮忙。",
    "商品 {n} 审核太慢了，请尽快处理。",
    "상품 {n} 심사가 너무 오래 걸립니다. 확인 부탁드립니다.",
    "Замовлення {n}: покупець просить повернення коштів.",
    "Заказ {n} не доставлен, покупатель ждёт.",
    "We have checked order {n}; the refund is on its way.",
    "Thanks, the payout {n} is scheduled for Friday.",
    "Please send the tracking number for parcel {n}.",
    "Done. Product {n} is approved now.",
    'He wrote: "where is my parcel {n}?"\nCan you check?',
]
AUTO_REPLIES = [
    "Thank you for contacting us. We will reply within 24 hours.",
    "感谢您的来信，我们将在24小时内回复。",
    "Bize ulaştığınız için teşekkürler.",
]
NOTES = ["Escalated to the logistics team.", "Checked with finance, payout {n} pending.",
         "内部备注：等待仓库回复。", "Duplicate of an earlier ticket."]  # fmt: skip
MERCHANT_NAMES = ["Merchant {n}", "Anka Tekstil {n}", "深圳市贸易 {n} 有限公司", "서울상사 {n}",
                  "Kyiv Goods {n}", "Ljubljana Crafts {n}", "Bruxelles Mode {n}"]  # fmt: skip


def _table(weights: Mapping[T, float], size: int = 1024) -> list[T]:
    """A look-up table: ``table[int(random() * len(table))]`` draws by weight, in one step."""
    total = sum(weights.values())
    table: list[T] = []
    reached = 0.0
    for value, weight in weights.items():
        reached += weight / total * size
        table.extend([value] * (round(reached) - len(table)))
    return table


def _enc(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _variants(name: str) -> list[str]:
    """Other spellings of a tag that normalize to the same name (interchange.md)."""
    full_width = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name)
    return [f"  {name.upper()} ", full_width, name.replace(" ", "  "), name.casefold()]


class _Timestamps:
    """RFC 3339 spelling of epoch seconds in a chosen offset, from pre-computed date and time
    strings: about ten times faster than ``datetime.isoformat``."""

    def __init__(self) -> None:
        self.origin_day = int((SPAN_START - timedelta(days=2)).timestamp()) // 86400
        days = (SPAN_END - SPAN_START).days + 400  # late follow-ups run past the span
        first = SPAN_START - timedelta(days=2)
        self.dates = [(first + timedelta(days=d)).strftime("%Y-%m-%dT") for d in range(days)]
        self.times = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]
        self.offsets = []
        for suffix in _table(OFFSETS, 64):
            seconds = 0
            if suffix not in ("Z", "+00:00"):
                sign = 1 if suffix[0] == "+" else -1
                seconds = sign * (int(suffix[1:3]) * 3600 + int(suffix[4:6]) * 60)
            self.offsets.append((seconds, suffix))

    def format(self, epoch: int, rnd: Callable[[], float]) -> str:
        seconds, suffix = self.offsets[int(rnd() * 64)]
        day, second = divmod(epoch + seconds, 86400)
        return f'"{self.dates[day - self.origin_day]}{self.times[second]}{suffix}"'


class _Merchant:
    """A seller, pre-encoded as the JSON objects its conversations carry (before and after a
    move, and with the country spelt oddly)."""

    __slots__ = (
        "author",
        "china",
        "json_after",
        "json_before",
        "moved_at",
        "odd_after",
        "odd_before",
    )

    def __init__(
        self, index: int, rng: random.Random, countries: Sequence[str], statuses: Sequence[str]
    ) -> None:
        country = countries[int(rng.random() * len(countries))]
        status = statuses[int(rng.random() * len(statuses))]
        name = MERCHANT_NAMES[
            0
            if country not in ("TR", "CN", "KR", "UA", "SI", "BE")
            else 1 + ("TR", "CN", "KR", "UA", "SI", "BE").index(country)
        ]
        mid = f"m-{index:07d}"
        moved_to = MOVES.get(country) if rng.random() < 0.01 else None
        span = int(SPAN_END.timestamp() - SPAN_START.timestamp())
        self.moved_at = int(SPAN_START.timestamp()) + int(rng.random() * span) if moved_to else 0
        self.author = f'{{"type": "merchant", "id": "{mid}"}}'
        self.china = country == "CN"

        def encode(code: str, odd: bool) -> str:
            written = f" {code.lower()} " if odd else code
            parts = [f'"id": "{mid}"', f'"name": {_enc(name.format(n=index))}',
                     f'"country": "{written}"']  # fmt: skip
            if status != "active" or rng.random() < 0.5:
                parts.append(f'"status": "{status}"')
            language = LANGUAGES.get(code)
            if language and rng.random() < 0.7:
                parts.append(f'"language": "{language}"')
            return "{" + ", ".join(parts) + "}"

        self.json_before = encode(country, False)
        self.odd_before = encode(country, True)
        self.json_after = encode(moved_to or country, False)
        self.odd_after = encode(moved_to or country, True)


class Generator:
    """Conversations ``c-0000000`` ... as interchange lines, the same for the same seed."""

    def __init__(self, size: int, seed: int = 1) -> None:
        self.size = size
        self.seed = seed
        rng = random.Random(f"merchants:{seed}")
        countries = _table(COUNTRIES, 4096)
        statuses = _table(MERCHANT_STATUSES)
        self.merchants = [
            _Merchant(i, rng, countries, statuses) for i in range(max(200, size // 8))
        ]
        self.ts = _Timestamps()
        self.start = int(SPAN_START.timestamp())
        self.span = int(SPAN_END.timestamp()) - self.start
        self.channels = _table(CHANNELS)
        self.kinds = _table(KINDS)
        self.outcomes = _table(OUTCOMES)
        self.tag_counts = _table(TAG_COUNTS, 100)
        self.subjects = [_enc(s.format(n=n)) for s in SUBJECTS for n in range(0, 600, 7)]
        self.bodies = [_enc(s.format(n=n)) for s in BODIES for n in range(1000, 90000, 331)]
        self.auto = [_enc(s) for s in AUTO_REPLIES]
        self.notes = [_enc(s.format(n=n)) for s in NOTES for n in range(50)]
        self._tags_setup()

    def _tags_setup(self) -> None:
        names = [name for _, tags in TAG_CLUSTERS.values() for name, _ in tags]
        self.tag_json = {name: _enc(name) for name in names}
        self.tag_odd = {name: [_enc(v) for v in _variants(name)] for name in names}
        # Per region (CN or not), a cluster table and per cluster a tag table; "EU ..." and
        # "Europe ..." tags are what the European desk uses, so they are rarer for CN sellers.
        self.cluster_tables: dict[bool, list[list[str]]] = {}
        self.tag_tables: dict[bool, list[list[str]]] = {}
        for china in (True, False):
            clusters = {}
            tables = []
            for index, (weight, tags) in enumerate(TAG_CLUSTERS.values()):
                clusters[index] = weight
                scaled = {
                    name: w * ((0.3 if china else 3.0) if name.lower().startswith("eu") else 1.0)
                    for name, w in tags
                }
                tables.append(_table(scaled, 256))
            self.cluster_tables[china] = [tables[i] for i in _table(clusters, 256)]
            self.tag_tables[china] = tables

    def lines(self, first: int = 0, count: int | None = None) -> list[str]:
        """Lines ``first`` ... ``first + count - 1``; each block of 10,000 has its own random
        stream, so any slice comes out the same whoever generates it."""
        end = self.size if count is None else min(self.size, first + count)
        out: list[str] = []
        index = first
        while index < end:
            block = index // 10_000
            rng = random.Random(f"conversations:{self.seed}:{block}")
            block_end = min(end, (block + 1) * 10_000)
            skip = index - block * 10_000
            produced = [
                self._one(block * 10_000 + i, rng) for i in range(block_end - block * 10_000)
            ]
            out.extend(produced[skip:])
            index = block_end
        return out

    def _one(self, index: int, rng: random.Random) -> str:
        rnd = rng.random
        ts = self.ts.format
        created = self.start + int(rnd() * self.span)
        merchants = self.merchants
        merchant = merchants[int(len(merchants) * rnd() ** 2)]  # a few sellers file most
        moved = merchant.moved_at and created >= merchant.moved_at
        odd = rnd() < 0.05
        if moved:
            m_json = merchant.odd_after if odd else merchant.json_after
        else:
            m_json = merchant.odd_before if odd else merchant.json_before
        china = merchant.china
        kind = self.kinds[int(rnd() * 1024)]
        outreach = rnd() < 0.046
        spam = not outreach and rnd() < 0.009
        parts = [
            f'{{"id": "c-{index:07d}", "merchant": {m_json}, '
            f'"channel": "{self.channels[int(rnd() * 1024)]}"'
        ]
        if kind is not None:
            parts.append(f', "kind": "{kind}"')
        if outreach:
            parts.append(', "initiated_by": "support"')
        elif rnd() < 0.7:
            parts.append(', "initiated_by": "merchant"')
        parts.append(f', "subject": {self.subjects[int(rnd() * len(self.subjects))]}')
        parts.append(f', "created_at": {ts(created, rnd)}')

        # Tags: a cluster, its tags, sometimes a strong partner, now and then a stray.
        clusters = self.cluster_tables[china]
        cluster = clusters[int(rnd() * 256)]
        chosen: list[str] = []
        for _ in range(self.tag_counts[int(rnd() * 100)]):
            if chosen and chosen[-1] in TAG_PARTNERS and rnd() < 0.33:
                name = TAG_PARTNERS[chosen[-1]]
            elif not chosen or rnd() < 0.7:
                name = cluster[int(rnd() * 256)]
            else:
                stray = clusters[int(rnd() * 256)]
                name = stray[int(rnd() * 256)]
            if name not in chosen:
                chosen.append(name)
        if rnd() < 0.05:
            written = [
                self.tag_odd[n][int(rnd() * 4)] if rnd() < 0.5 else self.tag_json[n] for n in chosen
            ]
            if rnd() < 0.1:  # the same tag twice, spelt differently: counts once
                written.append(self.tag_odd[chosen[0]][0])
        else:
            written = [self.tag_json[n] for n in chosen]
        parts.append(f', "tags": [{", ".join(written)}]')

        # Messages: opening, auto-reply, first response after a log-normal delay, follow-ups.
        bodies = self.bodies
        n_bodies = len(bodies)
        merchant_author = merchant.author
        agent = f'{{"type": "agent", "id": "a-{int(rnd() * 40)}"}}'
        messages: list[tuple[int, str]] = []
        if outreach:
            messages.append(
                (created, f'"author": {agent}, "body": {bodies[int(rnd() * n_bodies)]}')
            )
        else:
            messages.append(
                (created, f'"author": {merchant_author}, "body": {bodies[int(rnd() * n_bodies)]}')
            )
            if rnd() < 0.3:
                messages.append((
                    created + 1 + int(rnd() * 5),
                    f'"author": {{"type": "system", "id": "autoreply"}}, "body": {self.auto[int(rnd() * 3)]}',
                ))  # fmt: skip
        moment = created
        responded = spam is False and rnd() < 0.96
        if responded:
            moment = created + min(30 * 86400, int(rng.lognormvariate(7.65, 1.3)))
            if rnd() < 0.07:  # an internal note first: not a response
                messages.append((
                    moment - 60 - int(rnd() * 600) if moment - 700 > created else moment,
                    f'"author": {agent}, "public": false, "body": {self.notes[int(rnd() * 200)]}',
                ))  # fmt: skip
            messages.append(
                (
                    moment,
                    f'"author": {agent}, "public": true, "body": {bodies[int(rnd() * n_bodies)]}',
                )
            )
        for turn in range(int(rnd() * 6)):
            moment += 60 + int(rnd() * 7200)
            author = merchant_author if turn % 2 == 0 else agent
            messages.append(
                (moment, f'"author": {author}, "body": {bodies[int(rnd() * n_bodies)]}')
            )
        written_messages = [
            f'{{"id": "{i + 1}", {body}, "created_at": {ts(at, rnd)}}}'
            for i, (at, body) in enumerate(sorted(messages, key=lambda m: m[0]))
        ]
        if rnd() < 0.3:  # in any order: timestamps decide
            written_messages.reverse()
        parts.append(f', "messages": [{", ".join(written_messages)}]')

        # Status changes: the usual flows, reopened ones, solved then closed; in any order.
        if not spam:
            changes = self._status_flow(created, moment if responded else created + 600, rnd, rng)
            if changes:
                written_changes = [
                    f'{{"status": "{status}", "at": {ts(at, rnd)}}}' for status, at in changes
                ]
                if rnd() < 0.25:
                    written_changes.append(written_changes.pop(0))
                parts.append(f', "status_changes": [{", ".join(written_changes)}]')

        if kind == "complaint":
            outcome = self.outcomes[int(rnd() * 1024)]
            if outcome is not None:
                parts.append(f', "outcome": "{outcome}"')
        elif rnd() < 0.005:  # kept but never reported
            parts.append(', "outcome": "no_action"')
        if spam:
            parts.append(', "spam": true')
        parts.append("}\n")
        return "".join(parts)

    @staticmethod
    def _status_flow(
        created: int, response: int, rnd: Callable[[], float], rng: random.Random
    ) -> list[tuple[str, int]]:
        """Status changes in time order, each at least a second after the one before."""
        r = rnd()
        if r < 0.07:
            return []
        opened = max(created + 1, response)
        solve = opened + 1 + min(60 * 86400, int(rng.lognormvariate(9.3, 1.5)))
        if r < 0.13:
            return [("open", opened)]
        if r < 0.17:
            return [("open", opened), ("pending", opened + 3600)]
        if r < 0.20:
            return [("closed", solve)]
        if r < 0.60:
            return [("open", opened), ("solved", solve)]
        if r < 0.72:
            return [("open", opened), ("solved", solve), ("closed", solve + 4 * 86400)]
        if r < 0.84:
            waited = opened + 1 + int(rnd() * 86400)
            back = waited + 3600 + int(rnd() * 86400)
            return [("open", opened), ("pending", waited), ("open", back),
                    ("solved", max(solve, back) + 86400)]  # fmt: skip
        reopened = solve + 3600 + int(rnd() * 3 * 86400)
        if r < 0.92:
            again = reopened + 1 + int(rng.lognormvariate(9.0, 1.2))
            return [("open", opened), ("solved", solve), ("open", reopened), ("solved", again)]
        if r < 0.95:
            return [("open", opened), ("solved", solve), ("open", reopened)]
        held = opened + 600
        return [("open", opened), ("on_hold", held), ("open", held + 86400),
                ("solved", solve + 86400), ("closed", solve + 5 * 86400)]  # fmt: skip


def _open_text(path: Path, *, gz: bool) -> IO[str]:
    if gz:
        return gzip.open(path, "wt", encoding="utf-8", compresslevel=1)
    return path.open("w", encoding="utf-8", buffering=1 << 20)


def data_path(size: int, seed: int = 1, *, gz: bool = False) -> Path:
    suffix = ".jsonl.gz" if gz else ".jsonl"
    return DATA_DIR / f"conversations-{size}-seed{seed}-v{GENERATOR_VERSION}{suffix}"


def write(path: Path, size: int, seed: int = 1) -> None:
    """Write ``size`` conversations to ``path`` (gzip when it ends in .gz), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    generator = Generator(size, seed)
    try:
        with _open_text(tmp, gz=path.suffix == ".gz") as handle:
            for first in range(0, size, 10_000):
                handle.write("".join(generator.lines(first, 10_000)))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure(size: int, seed: int = 1, *, gz: bool = False, quiet: bool = False) -> Path:
    """The cached file for this size and seed, generated first when missing."""
    path = data_path(size, seed, gz=gz)
    if not path.exists():
        started = time.perf_counter()
        if not quiet:
            print(f"generating {size:,} conversations into {path} ...", file=sys.stderr, flush=True)
        write(path, size, seed)
        if not quiet:
            elapsed = time.perf_counter() - started
            print(
                f"  done in {elapsed:.1f} s ({path.stat().st_size / 1e6:,.0f} MB)", file=sys.stderr
            )
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("size", type=int, help="number of conversations")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gzip", action="store_true", help="write .jsonl.gz")
    parser.add_argument("--out", type=Path, help="write here instead of the cache in bench/data/")
    parser.add_argument("--force", action="store_true", help="regenerate even when cached")
    args = parser.parse_args(argv)
    if args.out:
        write(args.out, args.size, args.seed)
        print(args.out)
        return
    path = data_path(args.size, args.seed, gz=args.gzip)
    if args.force:
        path.unlink(missing_ok=True)
    print(ensure(args.size, args.seed, gz=args.gzip))


if __name__ == "__main__":
    main()
