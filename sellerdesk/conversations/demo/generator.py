"""The generator: one ``random.Random`` draws the merchants, then one conversation at a time.

Each conversation follows a flow (filed by a merchant, outreach by the desk, or spam): messages
in the merchant's language, agent replies in the team's working hours, status changes, tags and
a complaint's outcome. Whatever would happen after the end of the year is cut off when the
interchange object is built. Calls to the ``Random`` happen in a fixed order: reordering them
changes the data a seed gives.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sellerdesk.conversations.demo.chance import cumulative, lognormal, pick
from sellerdesk.conversations.demo.clock import Clock, whole
from sellerdesk.conversations.demo.conversation import Author, Conv
from sellerdesk.conversations.demo.people import (
    Merchant,
    agents_by_team,
    merchants_draw,
    spammers_draw,
)
from sellerdesk.conversations.demo.world import DAYS, Scenario, world_load

SPAM_RATE = 0.012
OUTREACH_RATE = 0.055
UNTAGGED_RATE = 0.04
NO_REPLY_RATE = 0.12  # the merchant never answers the question put to them
OUTREACH_NO_REPLY_RATE = 0.28
REOPEN_RATE = 0.07  # complaints: five points more
CLOSE_RATE = 0.9  # solved conversations the automation closes after four quiet days
UNDECIDED_RATE = 0.05  # resolved complaints nobody recorded an outcome for
#: Chance that the first agent reply already settles the conversation.
QUICK = {"question": 0.5, "request": 0.35, "proposal": 0.6, "complaint": 0.1}
_AUTOREPLY: Author = {"type": "system", "id": "autoreply", "name": "Auto-reply"}
_CHATBOT: Author = {"type": "system", "id": "chatbot", "name": "Chat bot"}
_AUTOMATION: Author = {"type": "system", "id": "automation", "name": "Automation"}


def demo_generate(*, seed: int, conversations: int, today: date) -> Iterator[dict[str, Any]]:
    """Interchange objects for ``conversations`` conversations filed in the year before ``today``.

    The year ends at 00:00 UTC on ``today``: nothing is dated later, and whatever would have
    happened after that moment (a reply, a solve) has not happened yet, so the newest
    conversations are still new, open or pending. The same seed and day give the same objects.
    """
    if conversations < 0:
        raise ValueError("conversations must not be negative")
    generator = _Generator(seed, today, conversations)
    for number in range(1, conversations + 1):
        yield generator.conversation(number)


def _chain(language: str) -> tuple[str, ...]:
    """Languages to try for a phrase: Ukrainian and Russian stand in for each other."""
    return {"uk": ("uk", "ru", "en"), "ru": ("ru", "uk", "en")}.get(language, (language, "en"))


class _Generator:
    """Draws the merchants once, then one conversation per call, all from one ``Random``."""

    def __init__(self, seed: int, today: date, conversations: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - made-up data, reproducible on purpose
        self.world = world_load()
        self.clock = Clock(self.rng, self.world, today)
        self.now, self.start = self.clock.now, self.clock.start
        self.agents = agents_by_team(self.world)
        self._scenario_cum: dict[tuple[str, str], tuple[list[str], list[float]]] = {}
        self.merchants = merchants_draw(
            self.rng,
            self.world,
            count=max(12, conversations // 8),
            start=self.start,
            now=self.now,
        )
        self.merchant_cum = cumulative([m.activity for m in self.merchants])
        self.spammers = spammers_draw(self.rng, self.world, start=self.start, now=self.now)

    def _pick(self, weights: dict[str, float]) -> str:
        return pick(self.rng, weights)

    # -- words --

    def _options(
        self, conv: Conv, section: str, key: str | None, language: str | None = None
    ) -> list[str]:
        """The phrases of the first language in the chain that has any."""
        entry = self.world.phrases[section]
        if key is not None:
            entry = entry[key]
        for lang in _chain(language or conv.merchant.language):
            if entry.get(lang):
                return entry[lang]
        return entry["en"]

    def _say(
        self,
        conv: Conv,
        section: str,
        key: str | None,
        *,
        language: str | None = None,
        variant: int | None = None,
    ) -> str:
        """A phrase with its placeholders filled; ``variant`` picks the answer to a question."""
        options = self._options(conv, section, key, language)
        if variant is None:
            # People vary their wording: a phrase already used here is taken again only when
            # there is no other.
            index = self.rng.randrange(len(options))
            fresh = [o for o in options[index:] + options[:index] if o not in conv.said]
            template = fresh[0] if fresh else options[index]
        else:
            template = options[variant] if variant < len(options) else options[0]
        conv.said.add(template)
        return template.format_map(conv.values)

    def _merchant_says(self, conv: Conv, at: datetime, body: str) -> None:
        author = {"type": "merchant", "id": conv.merchant.id}
        conv.messages.append((at, author, body, conv.zone, True))

    def _agent_says(self, conv: Conv, at: datetime, body: str, *, public: bool = True) -> None:
        conv.values["agent"] = conv.agent.name
        if public and conv.channel in ("email", "web", "api"):  # answered by e-mail
            body += self._say(conv, "agent", "signature")
        author = {"type": "agent", "id": conv.agent.id, "name": conv.agent.name}
        conv.messages.append((at, author, body, self.world.teams[conv.team].zone, public))

    def _note(self, conv: Conv, at: datetime) -> None:
        """An internal note, in the team's working language."""
        language = self.world.teams[conv.team].note_language
        self._agent_says(conv, at, self._say(conv, "note", None, language=language), public=False)

    def _system_says(self, conv: Conv, at: datetime, author: Author, body: str) -> None:
        conv.messages.append((at, author, body, None, True))

    def _status(self, conv: Conv, at: datetime, status: str, by: str) -> None:
        conv.changes.append((at, status, by))

    # -- conversations --

    def conversation(self, number: int) -> dict[str, Any]:
        rng = self.rng
        if rng.random() < SPAM_RATE:
            sender = rng.choice(self.spammers)
            created = self.start + timedelta(seconds=rng.randrange(DAYS * 86400))
            return self._spam(self._conv(number, sender, created))
        merchant = rng.choices(self.merchants, cum_weights=self.merchant_cum)[0]
        conv = self._conv(number, merchant, self.clock.filing_time(merchant))
        if rng.random() < OUTREACH_RATE:
            return self._outreach(conv)
        return self._filed(conv)

    def _conv(self, number: int, merchant: Merchant, created: datetime) -> Conv:
        """A conversation with its merchant as of filing and its placeholder values drawn."""
        rng = self.rng
        country, zone, status = merchant.at(created)
        agent = rng.choice(self.agents[country.team])
        days = rng.randint(2, 12)
        earlier = (created - timedelta(days=rng.randint(4, 25))).date()  # a payout period, a date
        period = (earlier.replace(day=1), earlier.replace(day=15))
        if earlier.day > 15:
            following = (earlier.replace(day=28) + timedelta(days=4)).replace(day=1)
            period = (earlier.replace(day=16), following - timedelta(days=1))
        amount = rng.randint(40, 25000) * (50 if country.currency == "KRW" else 1)
        letters = "ABCDEFGHKLMNPRSTXZ"
        values = {
            "order": str(rng.randint(10**8, 10**9 - 1)),
            "product": str(rng.randint(10**6, 10**7 - 1)),
            "sku": f"{rng.choice(letters)}{rng.choice(letters)}-{rng.randint(1000, 99999)}",
            "amount": f"{amount:,} {country.currency}",
            "days": str(days),
            "due": (created.date() + timedelta(days=days)).isoformat(),
            "n": str(rng.randint(3, 60)),
            "date": earlier.isoformat(),
            "period": f"{period[0].isoformat()} / {period[1].isoformat()}",
            "ref": f"#SD-{number:06d}",
            "tracking": rng.choice(("YT", "LP00", "JJD00", "UA", "1Z"))
            + str(rng.randint(10**11, 10**12 - 1)),
            "invoice": f"INV-{created.year}-{rng.randint(1, 99999):05d}",
            "agent": agent.name,
            "merchant": merchant.name,
        }
        return Conv(number, merchant, created, country, zone, status, country.team, agent, values)

    def _scenario(self, conv: Conv) -> str:
        key = (conv.status, conv.team)
        if key not in self._scenario_cum:
            names = [n for n, s in self.world.scenarios.items() if s.weights.get(conv.status)]
            weights = [
                self.world.scenarios[n].weights[conv.status]
                * self.world.scenarios[n].bias.get(conv.team, 1.0)
                for n in names
            ]
            self._scenario_cum[key] = (names, cumulative(weights))
        names, cum = self._scenario_cum[key]
        return self.rng.choices(names, cum_weights=cum)[0]

    def _tags(self, conv: Conv, tags: tuple[str, ...], scenario: Scenario | None) -> list[str]:
        rng = self.rng
        if rng.random() < UNTAGGED_RATE:
            return []
        found = list(tags)
        if scenario is not None:
            extra = scenario.also | scenario.team_also.get(conv.team, {})
            found += [
                tag for tag, chance in extra.items() if rng.random() < chance and tag not in found
            ]
        return found

    def _filed(self, conv: Conv) -> dict[str, Any]:
        """A conversation the merchant started, from the first message to closing (or the clock)."""
        rng = self.rng
        name = self._scenario(conv)
        scenario = self.world.scenarios[name]
        conv.kind = self._pick(scenario.kinds)
        conv.channel = self._pick(self.world.teams[conv.team].channels)
        if conv.channel == "phone":  # a call gets through only while someone picks up
            picked_up = self.clock.team_time(conv, conv.created, 0)
            if picked_up < self.now:
                conv.created = picked_up
            else:
                conv.channel = "email"
        conv.tags = self._tags(conv, scenario.tags, scenario)
        if conv.channel != "chat" or rng.random() < 0.6:
            conv.subject = self._say(conv, "subject", name)
        t = conv.created
        self._merchant_says(conv, t, self._opener(conv, name, scenario))
        if conv.channel in ("email", "web", "api"):
            autoreply = self._say(conv, "system", "autoreply")
            self._system_says(
                conv, whole(t + timedelta(seconds=rng.randint(3, 90))), _AUTOREPLY, autoreply
            )
        elif conv.channel == "chat":
            t = self._chat_bot(conv, scenario, t)
        t = self.clock.agent_time(conv, t, first=True)
        self._status(conv, t, "open", conv.agent.id)
        prefix = ""
        if conv.channel == "chat":
            prefix = self._say(conv, "agent", "greeting")
        elif conv.channel == "phone":
            prefix = self._say(conv, "agent", "phone_summary")
        quick = rng.random() < QUICK[conv.kind]
        rounds = 0 if quick else rng.choices((1, 2, 3, 4), (56, 27, 11, 6))[0]
        for index in range(rounds):
            move = rng.choices(("ask", "hold", "nudge"), (50, 25, 25))[0]
            if index == 0 and move != "ask":  # the first answer only acknowledges
                self._agent_says(conv, t, prefix + self._say(conv, "agent", "ack"))
            if move == "ask":  # waiting on the merchant: pending
                variant = rng.randrange(len(self._options(conv, "agent", "ask_info")))
                ask = self._say(conv, "agent", "ask_info", variant=variant)
                self._agent_says(conv, t, prefix + ask)
                self._status(conv, t, "pending", conv.agent.id)
                if rng.random() < NO_REPLY_RATE:
                    self._abandoned(conv, t)
                    return conv.build(self.now)
                t = self.clock.merchant_time(conv, t)
                info = self._say(conv, "merchant_generic", "info", variant=variant)
                self._merchant_says(conv, t, info)
                self._status(conv, t, "open", "merchant")
            elif move == "hold":  # waiting on another team: on hold, with internal notes
                t = whole(t + timedelta(seconds=rng.randint(60, 900)))
                self._note(conv, t)
                self._status(conv, t, "on_hold", conv.agent.id)
                t = self.clock.team_time(conv, t, lognormal(rng, 600, 0.8))
                if rng.random() < 0.15:  # handed over to a colleague
                    conv.agent = rng.choice(self.agents[conv.team])
                if rng.random() < 0.5:
                    self._note(conv, t)
                self._agent_says(conv, t, self._say(conv, "agent", "update"))
                self._status(conv, t, "open", conv.agent.id)
            else:  # the merchant chases an answer
                t = self.clock.merchant_time(conv, t, patience=True)
                self._merchant_says(conv, t, self._say(conv, "merchant_generic", "followup"))
            prefix = ""
            t = self.clock.agent_time(conv, t)
        t = self._settle(conv, name, scenario, t, prefix)
        self._after_solve(conv, t)
        return conv.build(self.now)

    def _opener(self, conv: Conv, name: str, scenario: Scenario) -> str:
        """The merchant's first message; English ones sometimes come from the Bitext set."""
        rng = self.rng
        merchant_phrases = self.world.phrases["merchant"][name]
        english = not any(lang in merchant_phrases for lang in _chain(conv.merchant.language)[:-1])
        if english and scenario.bitext and rng.random() < 0.4:
            text = rng.choice(self.world.bitext[rng.choice(scenario.bitext)]["instructions"])
        else:
            text = self._say(conv, "merchant", name)
        if conv.kind == "complaint" and rng.random() < 0.6:
            if english and rng.random() < 0.3:
                lodge = rng.choice(self.world.bitext["complaint"]["instructions"])
                return f"{lodge[0].upper()}{lodge[1:]}. {text}"
            return self._say(conv, "merchant_generic", "complaint_prefix") + text
        return text

    def _chat_bot(self, conv: Conv, scenario: Scenario, t: datetime) -> datetime:
        """The chat bot answers first; many merchants insist on a person."""
        rng = self.rng
        english = _chain(conv.merchant.language)[0] == "en"
        roll = rng.random()
        if english and scenario.bitext and roll < 0.6:
            answer = self.world.bitext[rng.choice(scenario.bitext)]["response"]
        elif roll < 0.35:
            answer = self._say(conv, "system", "bot_greeting")
        else:
            return t
        self._system_says(conv, whole(t + timedelta(seconds=rng.randint(1, 6))), _CHATBOT, answer)
        if rng.random() < 0.6:
            t = whole(t + timedelta(seconds=rng.randint(20, 180)))
            if english:
                insist = rng.choice(self.world.bitext["contact_human_agent"]["instructions"])
            else:
                insist = self._say(conv, "merchant_generic", "human_please")
            self._merchant_says(conv, t, insist)
        return t

    def _settle(
        self, conv: Conv, name: str, scenario: Scenario, t: datetime, prefix: str
    ) -> datetime:
        """The answer that solves it; a complaint gets its decision here."""
        rng = self.rng
        if conv.kind == "complaint":
            outcome = self._pick(scenario.outcomes)
            if outcome == "withdrawn":
                t = self.clock.merchant_time(conv, t)
                self._merchant_says(conv, t, self._say(conv, "merchant_generic", "withdraw"))
                t = self.clock.agent_time(conv, t)
                self._agent_says(conv, t, prefix + self._say(conv, "agent", "withdrawn_ack"))
            else:
                self._agent_says(conv, t, prefix + self._say(conv, "agent", f"outcome_{outcome}"))
            conv.outcome = None if rng.random() < UNDECIDED_RATE else outcome
            conv.decided_at = t
        elif conv.kind == "proposal":
            self._agent_says(conv, t, prefix + self._say(conv, "agent", "proposal_ack"))
        elif name in self.world.phrases["resolve"]:
            self._agent_says(conv, t, prefix + self._say(conv, "resolve", name))
        else:
            self._agent_says(conv, t, prefix + self._say(conv, "agent", "solved"))
        self._status(conv, t, "solved", conv.agent.id)
        return t

    def _after_solve(self, conv: Conv, t: datetime) -> None:
        """Thanks, a reopening now and then (solved, open, solved), and the automatic close."""
        rng = self.rng
        if rng.random() < REOPEN_RATE + (0.05 if conv.kind == "complaint" else 0.0):
            t = whole(t + timedelta(minutes=lognormal(rng, 1200, 1.0)))
            self._merchant_says(conv, t, self._say(conv, "merchant_generic", "reopen"))
            self._status(conv, t, "open", "merchant")
            t = self.clock.agent_time(conv, t)
            self._agent_says(conv, t, self._say(conv, "agent", "reopen_ack"))
            t = self.clock.team_time(conv, t, lognormal(rng, 300, 1.0))
            self._agent_says(conv, t, self._say(conv, "agent", "solved"))
            self._status(conv, t, "solved", conv.agent.id)
        elif conv.channel != "phone" and rng.random() < 0.25:
            thanks = self._say(conv, "merchant_generic", "thanks")
            self._merchant_says(conv, self.clock.merchant_time(conv, t), thanks)
        if rng.random() < CLOSE_RATE:
            closing = t + timedelta(days=4, seconds=rng.randint(0, 6 * 3600))
            self._status(conv, whole(closing), "closed", "automation")

    def _abandoned(self, conv: Conv, t: datetime) -> None:
        """No answer from the merchant: a reminder, then the automation solves and closes it."""
        t = whole(t + timedelta(days=3, seconds=self.rng.randint(0, 3600)))
        self._system_says(conv, t, _AUTOMATION, self._say(conv, "system", "reminder"))
        t += timedelta(days=4)
        self._system_says(conv, t, _AUTOMATION, self._say(conv, "system", "autoclose"))
        self._status(conv, t, "solved", "automation")
        if conv.kind == "complaint" and self.rng.random() < 0.5:
            conv.outcome, conv.decided_at = "withdrawn", t
        self._status(conv, t + timedelta(days=4), "closed", "automation")

    def _outreach(self, conv: Conv) -> dict[str, Any]:
        """The desk writes first (initiated_by support), then waits on the merchant."""
        rng = self.rng
        key = self._pick(
            {
                k: o.weights[conv.status]
                for k, o in self.world.outreach.items()
                if o.weights.get(conv.status)
            }
        )
        outreach = self.world.outreach[key]
        conv.outreach = True
        conv.kind = outreach.kind
        conv.tags = self._tags(conv, outreach.tags, None)
        conv.channel = rng.choices(("email", "phone", "chat"), (80, 15, 5))[0]
        written = self.clock.team_time(conv, conv.created, 0)  # during the team's hours
        if written < self.now:
            conv.created = written
        t = conv.created
        conv.subject = self._say(conv, "outreach_subject", key)
        prefix = self._say(conv, "agent", "phone_summary") if conv.channel == "phone" else ""
        self._agent_says(conv, t, prefix + self._say(conv, "outreach", key))
        self._status(conv, t, "pending", conv.agent.id)
        if rng.random() < OUTREACH_NO_REPLY_RATE:
            self._abandoned(conv, t)
            return conv.build(self.now)
        t = self.clock.merchant_time(conv, t)
        self._merchant_says(conv, t, self._say(conv, "outreach_reply", key))
        self._status(conv, t, "open", "merchant")
        t = self.clock.agent_time(conv, t)
        self._agent_says(conv, t, self._say(conv, "agent", "solved"))
        self._status(conv, t, "solved", conv.agent.id)
        if rng.random() < CLOSE_RATE:
            self._status(conv, t + timedelta(days=4), "closed", "automation")
        return conv.build(self.now)

    def _spam(self, conv: Conv) -> dict[str, Any]:
        """Spam through the web form or e-mail: kept, marked, closed without an answer."""
        rng = self.rng
        conv.spam = True
        conv.channel = rng.choices(("email", "web"), (75, 25))[0]
        body = self._say(conv, "spam", None)
        conv.subject = body.split("!")[0].split(".")[0][:80]
        t = conv.created
        self._merchant_says(conv, t, body)
        if conv.channel == "email" and rng.random() < 0.6:
            autoreply = self._say(conv, "system", "autoreply")
            self._system_says(
                conv, whole(t + timedelta(seconds=rng.randint(3, 60))), _AUTOREPLY, autoreply
            )
        t = self.clock.agent_time(conv, t, first=True)
        self._status(conv, t, "closed" if rng.random() < 0.85 else "solved", conv.agent.id)
        return conv.build(self.now)
