"""``sellerdesk triage train|eval|discover``: the triage model, trained on the desk's history.

sellerdesk triage train            # incremental: cached embeddings, warm-started weights
sellerdesk triage train --full     # from zero
sellerdesk triage eval             # P/R/F1 per tag and macro on the held-out split
sellerdesk triage discover --days 30 --segment EU
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from sellerdesk.conversations.models import Conversation
from sellerdesk.triage import engine, selectors
from sellerdesk.triage.embedding import ModelMissing, get_embedder


class Command(BaseCommand):
    help = "Train, evaluate and explore the triage model (suggested tags, kind and team)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        train = sub.add_parser("train", help="train on the desk's tagged history")
        train.add_argument("--full", action="store_true", help="start from zero weights")
        train.add_argument("--limit", type=int, default=None, help="newest N conversations")
        train.add_argument("--no-progress", action="store_true")
        ev = sub.add_parser("eval", help="the active model on the held-out split")
        ev.add_argument("--json", action="store_true")
        ev.add_argument("--limit", type=int, default=None)
        ev.add_argument("--no-progress", action="store_true")
        disc = sub.add_parser("discover", help="cluster untagged conversations")
        disc.add_argument("--days", type=int, default=30)
        disc.add_argument("--segment", default="")
        disc.add_argument("--clusters", type=int, default=8)
        disc.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            get_embedder()
            getattr(self, f"_{options['action']}")(options)
        except ModelMissing as error:
            raise CommandError(str(error)) from error

    def _embed(self, rows: list[engine.Row], options: dict[str, Any]) -> np.ndarray:
        with tqdm(
            total=len(rows), desc="embedding", unit="conv", disable=options["no_progress"]
        ) as bar:
            return engine.embed_rows(rows, progress=bar.update)

    def _train(self, options: dict[str, Any]) -> None:
        rows = engine.history(options["limit"])
        if len(rows) < 10:
            raise CommandError(
                f"only {len(rows)} conversations with a message to learn from; need at least 10"
            )
        X = self._embed(rows, options)
        previous = engine.active_model()
        init = None
        if (
            previous is not None
            and not options["full"]
            and previous.embedder == get_embedder().name
            and previous.dim == X.shape[1]
        ):
            init = engine.heads_of(previous)
        train = [i for i, r in enumerate(rows) if not engine.held_out(r.pk)]
        test = [i for i, r in enumerate(rows) if engine.held_out(r.pk)]
        epochs = (120 if init else 300) * 3
        with tqdm(
            total=epochs, desc="training", unit="epoch", disable=options["no_progress"]
        ) as bar:
            heads = engine.fit_heads(
                [rows[i] for i in train],
                X[train],
                init=init,
                progress=lambda _: bar.update(),
            )
        report = engine.evaluate(heads, [rows[i] for i in test], X[test])
        model = engine.save(
            heads,
            embedder=get_embedder().name,
            dim=int(X.shape[1]),
            metrics={
                "eval": report,
                "train_rows": len(train),
                "test_rows": len(test),
                "incremental": init is not None,
            },
            trained_on=len(train),
        )
        self.stdout.write(
            f"model {model.pk}: {len(train)} conversations, {len(heads.tags.labels)} tags, "
            f"{'warm start from model ' + str(previous.pk) if init and previous else 'from zero'}"
        )
        self._print(report)

    def _eval(self, options: dict[str, Any]) -> None:
        model = engine.active_model()
        if model is None:
            raise CommandError("no triage model yet: run `sellerdesk triage train` first")
        rows = [r for r in engine.history(options["limit"]) if engine.held_out(r.pk)]
        X = self._embed(rows, options)
        heads = engine.heads_of(model)
        report = engine.evaluate(heads, rows, X)
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, sort_keys=True))
        else:
            self._print(report)

    def _print(self, report: dict[str, Any]) -> None:
        w = self.stdout.write
        w(f"held-out conversations: {report['rows']}")
        if report.get("figures"):
            # Thresholds are chosen on these rows; the figures are not read where chosen.
            w(f"figures: {report['figures']}; thresholds: chosen on all of them")
        w(f"{'tag':<32} {'P':>6} {'R':>6} {'F1':>6} {'thresh':>7} {'support':>8}")
        for name, fig in sorted(report["tags"].items()):
            w(
                f"{name[:32]:<32} {fig['precision']:>6.3f} {fig['recall']:>6.3f} "
                f"{fig['f1']:>6.3f} {fig['threshold']:>7.2f} {fig['support']:>8}"
            )
        if report.get("macro_f1") is not None:
            w(
                f"{'macro':<32} {report['macro_precision']:>6.3f} {report['macro_recall']:>6.3f} "
                f"{report['macro_f1']:>6.3f}"
            )
        for name in ("kind", "team"):
            fig = report.get(name) or {}
            if fig:
                w(
                    f"{name}: accuracy {fig['accuracy']:.3f}; suggested at confidence ≥ "
                    f"{fig['threshold']:.2f} (precision {fig['precision_above']}, "
                    f"coverage {fig['coverage_above']})"
                )

    def _discover(self, options: dict[str, Any]) -> None:
        end = timezone.now()
        start = end - timedelta(days=options["days"])
        # Embed what the worker has not (older conversations): discovery needs every vector.
        found = selectors.discover(
            start=start, end=end, segment=options["segment"], clusters=options["clusters"]
        )
        if found.embedded < found.considered:
            ids = selectors.untagged_ids(start=start, end=end, segment=options["segment"])
            rows = engine.rows_for(
                Conversation.objects.filter(pk__in=ids).select_related("merchant")
            )
            self._embed([r for r in rows if r.text], options)
            found = selectors.discover(
                start=start, end=end, segment=options["segment"], clusters=options["clusters"]
            )
        self.stdout.write(f"{found.considered} untagged conversations, {found.embedded} clustered")
        for n, cluster in enumerate(found.clusters, 1):
            self.stdout.write(f"\n#{n}: {cluster.size} conversations")
            for ex in cluster.examples:
                text = " ".join(ex["text"].split())[:120]
                self.stdout.write(f"  [{ex['conversation'].pk}] {text}")
