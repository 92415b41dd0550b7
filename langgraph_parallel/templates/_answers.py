"""The answers the simulated model gives in the templates: text that reads like theirs.

`SimulatedChatModel` is mechanics (latency, failures, usage, tool calls, streaming, schema
filling); what it says comes from its `answers`. These answers read a prompt the way the
package's nodes build it (system text, then the input as `key: value` lines, perhaps a
`Data:` or `Results:` part) for a subject (the `topic`, `request`, `city`... that the prompt
interpolates), an aspect (a section's title, a review's dimension) and key phrases (a focus,
a list the instructions give, the data to brief on). An answer is a heading and short
sentences from a few templates filled with those; every choice comes from the call's seeded
random source, and every text starts with `[simulated]`.

The templates give them to the simulated model they run on (`template_model`). They live
here, beside the prompts they read: a template whose prompt changes can see its answers
degrade in `tests/test_simulated_text.py`, which runs every template.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langgraph_parallel.models import ModelLike, resolve_model
from langgraph_parallel.models.schema import SchemaFiller
from langgraph_parallel.models.simulated import (
    SIMULATED_NOTICE,
    Answers,
    SimulatedCall,
    SimulatedChatModel,
    message_text,
)


class TemplateAnswers(Answers):
    """Answers that read like the templates' output: a report's sections, a review, a briefing.

    Give them to a simulated model to make your own demo read the same way; the templates
    do it for you (`template_model`).

    Example:
        ```python
        from langgraph_parallel.models import Latency, SimulatedChatModel
        from langgraph_parallel.templates import TemplateAnswers

        model = SimulatedChatModel(latency=Latency.fixed(0.0), answers=TemplateAnswers())
        text = model.invoke("Suggest a name for a bakery").content
        assert text.startswith("[simulated] A name for a bakery.")
        ```
    """

    def text(self, call: SimulatedCall) -> str:
        """A heading and sentences on the prompt's subject, or a digest of its data."""
        return _compose(_read(call.messages), call.rng, call.words, call.bias)

    def filler(self, call: SimulatedCall, schema: Mapping[str, Any]) -> SchemaFiller:
        """Strings that read like the answer: headings, findings, sentences."""
        return _Filler(schema, call.rng, bias=call.bias, prompt=_read(call.messages))


def template_model(model: ModelLike) -> BaseChatModel:
    """The chat model a template runs on: `resolve_model(model)`, answering like the template.

    The simulated model with its default answers is copied with `TemplateAnswers` (its
    other settings kept); any other model is returned as `resolve_model` gives it.
    """
    chat = resolve_model(model)
    if isinstance(chat, SimulatedChatModel) and type(chat.answers) is Answers:
        return chat.model_copy(update={"answers": TemplateAnswers()})
    return chat


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_MARKER = re.compile(re.escape(SIMULATED_NOTICE) + r"\s*")
_FIELD = re.compile(r"^([a-z_][a-z0-9_]*): ?(.*)$")
_SUBJECT_KEYS = (
    "topic",
    "subject",
    "question",
    "request",
    "query",
    "task",
    "prompt",
    "input",
    "text",
    "city",
    "ticker",
    "company",
    "product",
    "name",
    "title",
)
_LEAD = re.compile(
    r"^(?:please|(?:can|could|would|will) you|tell me(?: about)?|give me"
    r"|(?:what|who|which) (?:is|are|was|were)"
    r"|summari[sz]e|explain|describe|list|suggest|propose|name|write|draft|outline|compare"
    r"|discuss|analy[sz]e|review|classify|rate|plan|find|pick|choose|recommend|create|make)"
    r"\s+",
    re.I,
)
_STOP = _wordset(
    "a an the and or but of to in on for with at by from as is are was were be this that its "
    "it their your our my"
)
_COMMON = _STOP | _wordset(
    "most much many some start weighing apart check fixing recent progress overall one there "
    "nothing possible consider look keep covers how what much"
)

_ASKS = _wordset(
    "can could is are was were do does did how why where when should will would may shall"
)

_OPENINGS: list[tuple[str, tuple[str, ...]]] = [
    ("Background and context", ("early history", "the current situation", "the main players")),
    ("Where things stand", ("recent progress", "the current situation", "the main players")),
]
_MIDDLES: list[tuple[str, tuple[str, ...]]] = [
    ("Costs and financing", ("upfront cost", "financing terms", "running costs")),
    ("Technology and design", ("the core technology", "design choices", "reliability")),
    ("Risks and open questions", ("delays", "supply bottlenecks", "policy changes")),
    ("Policy and regulation", ("permits", "subsidies", "safety rules")),
    ("Market and demand", ("demand growth", "pricing", "competition")),
    ("Environmental impact", ("emissions", "effects on wildlife", "land and sea use")),
    ("Supply chain", ("materials", "manufacturing capacity", "logistics")),
    ("Infrastructure", ("grid connections", "ports", "maintenance access")),
    ("People and skills", ("training", "hiring", "local jobs")),
    ("Timeline and milestones", ("near-term steps", "key deadlines", "the long-term plan")),
    ("Lessons from elsewhere", ("earlier projects", "comparable regions", "past mistakes")),
    ("Operations and maintenance", ("uptime", "servicing", "spare parts")),
    ("Research and innovation", ("pilot projects", "new materials", "field testing")),
    ("Public opinion", ("local support", "media coverage", "public trust")),
    ("Safety", ("incident rates", "inspections", "emergency plans")),
    ("Measuring success", ("clear targets", "reliable data", "regular reviews")),
    ("Stakeholders", ("government", "industry", "local communities")),
]
_CLOSINGS: list[tuple[str, tuple[str, ...]]] = [
    ("Outlook", ("the next five years", "likely scenarios", "signals to watch")),
    ("Recommendations", ("quick wins", "priorities", "what to avoid")),
]
_HEADINGS = {title.lower(): points for title, points in _OPENINGS + _MIDDLES + _CLOSINGS}
"""Section headings the simulated planner writes, with what a section under each covers."""

_ASPECT_WORDS: dict[str, tuple[str, ...]] = {
    "risks": ("delays", "cost overruns", "staff turnover"),
    "drawbacks": ("higher costs", "added complexity", "slower decisions"),
    "disadvantages": ("higher costs", "added complexity", "slower decisions"),
    "cons": ("higher costs", "added complexity", "slower decisions"),
    "benefits": ("lower costs", "more flexibility", "better morale"),
    "advantages": ("lower costs", "more flexibility", "better morale"),
    "pros": ("lower costs", "more flexibility", "better morale"),
    "costs": ("upfront cost", "running costs", "hidden costs"),
    "options": ("the simplest option", "the cheapest option", "the safest option"),
    "steps": ("a clear goal", "a small first step", "a review of the results"),
}
_ASPECT_WORD = re.compile(r"\b(" + "|".join(_ASPECT_WORDS) + r")\b")
_REVIEW_POINTS = ("error handling", "edge cases", "test coverage", "naming")
_GENERIC_POINTS = (
    "the goal",
    "the audience",
    "the constraints",
    "the context",
    "the available options",
    "the trade-offs",
    "the timeline",
    "the cost",
)

# Sentence templates: {s} subject, {a} aspect, {p} {q} {r} key phrases (distinct), {w} where
# in the code, {d} review dimension, {l} label. No template makes a verb agree with a slot.
_ANSWER = [
    "The best answer depends on {p} and {q}.",
    "Start with {p}, then look at {q}.",
    "Most of it comes down to {p}, with {r} close behind.",
    "A good answer keeps {r} in view.",
    "Weighing {p} against {q} usually settles it.",
    "In practice, the differences show in {q}.",
    "The first thing to settle is {r}.",
]
_SECTION = [
    "Much of the picture is shaped by {p}, and the pace depends on {q}.",
    "The evidence on {p} is fairly clear; the main open question is {q}.",
    "Here, the role of {q} is larger than it first appears.",
    "Most of the debate turns on {p}, and too little of it on {r}.",
    "A sound plan weighs {p} against {r}.",
    "Recent experience suggests that {q} will stay central for years.",
    "Progress on {p} has been steady, though the outlook for {r} is less certain.",
    "Any serious account of {a} has to start with {p}.",
]
_REVIEW = [
    "The main concern is {p}; on {q}, {w} looks fine.",
    "A closer look at {p} in {w} is needed.",
    "Check {q} before this code ships.",
    "Apart from {p}, {w} is short and readable.",
    "Fixing {p} first would do the most good.",
]
_MODERATE = [
    "The request appears to comply with the policy.",
    "Nothing in it conflicts with the rules as written.",
    "It can be answered as asked.",
]
_CLASSIFY = [
    "The text reads as {l} overall.",
    "Most of its wording points to {l}.",
    "A few phrases pull the other way, but {l} fits best.",
]
_FINDINGS = [
    "Check {p} in {w}.",
    "A closer look at {p} in {w} is needed.",
    "Possible problem with {p} in {w}.",
    "In {w}, nothing handles {p}.",
]
_ITEMS = ["Consider {p}.", "Look at {p} first.", "Keep {p} in view.", "Plan for {p}."]
_FOCUS = [
    "Covers {a} for {s}: {p}, {q} and {r}.",
    "How {p}, {q} and {r} shape {s}.",
]
_VERDICTS = [
    (0.35, "Serious {d} problems: {p} must be fixed before this code ships."),
    (0.65, "Some {d} problems: fix {p} first; the rest is minor."),
    (0.85, "Mostly sound on {d}; {p} could be tightened."),
    (2.0, "Strong on {d}, with only small points about {p}."),
]
_ALLOWED = [
    "The request for {s} does not conflict with the policy.",
    "Nothing in the request for {s} breaks the policy.",
]
_BLOCKED = [
    "The request for {s} may conflict with the policy: {p}.",
    "The policy rules out part of the request for {s}: {p}.",
]


@dataclass
class _Prompt:
    """What the simulated model makes of a prompt."""

    instructions: str = ""
    request: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    data: list[tuple[str, Any]] = field(default_factory=list)
    subject: str = ""
    aspect: str = ""
    points: list[str] = field(default_factory=list)
    where: str = "the code"
    dimension: str = ""
    intent: str = "answer"


def _read(messages: Sequence[BaseMessage]) -> _Prompt:
    """The instructions, the request, its subject and key phrases."""
    system = " ".join(message_text(m) for m in messages if isinstance(m, SystemMessage))
    asks = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    if not asks:
        asks = [i for i, m in enumerate(messages) if not isinstance(m, SystemMessage | ToolMessage)]
    at = asks[-1] if asks else len(messages)
    request = message_text(messages[at]) if at < len(messages) else ""
    body, data = _split_data(request)
    data += _tool_results(messages[at + 1 :])
    fields = _fields(body)
    prompt = _Prompt(instructions=system, request=body, fields=fields, data=data)

    key = next((k for k in _SUBJECT_KEYS if fields.get(k, "").strip()), None)
    if key is not None:
        prompt.subject = _topic(fields[key])
    elif "code" in fields:
        language = _topic(fields.get("language", ""), 3)
        prompt.subject = f"the {language} code" if language else "the code"
    elif fields:
        prompt.subject = _topic(next(iter(fields.values())))
    else:
        prompt.subject = _topic(body)
    if "code" in fields and (found := _CODE_NAME.search(fields["code"])):
        prompt.where = f"class {found[2]}" if found[2] else f"{found[1] or found[3]}()"

    points: tuple[str, ...] | list[str] = ()
    if key not in (None, "title") and fields.get("title"):
        title = _topic(fields["title"], 8)
        points = _HEADINGS.get(title.lower(), ())
        prompt.aspect = _lower_first(title) if points else title
    elif found_word := _ASPECT_WORD.search((system or body).lower()):
        prompt.aspect = found_word[1]
        points = _ASPECT_WORDS[found_word[1]]
    if not points:
        points = _phrases(fields.get("focus", "")) or _phrases(system)
    if found := _DIMENSION.search(system):
        prompt.dimension = (found[1] or found[2]).lower()

    low = system.lower()
    if data:
        prompt.intent = "digest"
    elif prompt.aspect and "title" in fields and key != "title":
        prompt.intent = "section"  # whatever words its title or focus use
    elif "classify" in low:
        prompt.intent = "classify"
    elif "moderat" in low or re.search(r"\bcompl(?:y|ies) with (?:this|the) policy", low):
        prompt.intent = "moderate"
    elif "review" in low and ("code" in low or "code" in fields):
        prompt.intent = "review"
    elif re.search(r"\bplan\b", low) and "section" in low:
        prompt.intent = "plan"
    prompt.points = list(dict.fromkeys(points))
    enough = 3 if len(prompt.points) >= 3 else 4  # three the prompt gave, or four in all
    for extra in _REVIEW_POINTS if prompt.intent == "review" else _GENERIC_POINTS:
        if len(prompt.points) >= enough:
            break
        if extra not in prompt.points:
            prompt.points.append(extra)
    return prompt


_DATA = re.compile(r"(?:^|\n)\s*Data:\n(?P<json>\{.*\})\s*\Z", re.S)
_RESULTS = re.compile(r"(?:^|\n)\s*Results:\n(?P<results>.*)\Z", re.S)
_RESULT = re.compile(r"## (?P<name>\S+) #\d+\n(?P<value>.*)", re.S)
_FAILED = re.compile(r"\[(?P<name>\S+) #\d+ (?P<status>\w+): ")
_CODE_NAME = re.compile(r"^\s*(?:async\s+)?def\s+(\w+)|^\s*class\s+(\w+)|\bfunction\s+(\w+)", re.M)
_DIMENSION = re.compile(
    r"\breview\s+(?:the\s+)?code\s+for\s+([\w-]+)|\bfor\s+([\w-]+)\s+only\b", re.I
)


def _split_data(request: str) -> tuple[str, list[tuple[str, Any]]]:
    """The request without its data part, and the data: a briefing's, or workers' results."""
    if found := _DATA.search(request):
        try:
            value = json.loads(found["json"])
        except ValueError:
            value = None
        if isinstance(value, dict):
            return request[: found.start()], list(value.items())
    if found := _RESULTS.search(request):
        items: list[tuple[str, Any]] = []
        for block in found["results"].split("\n\n"):
            if result := _RESULT.match(block):
                items.append((result["name"], result["value"]))
            elif failed := _FAILED.match(block):
                items.append((failed["name"], f"unavailable: {failed['status']}"))
            elif items and isinstance(items[-1][1], str):
                items[-1] = (items[-1][0], f"{items[-1][1]}\n\n{block}")
        return request[: found.start()], items
    return request, []


def _tool_results(messages: Sequence[BaseMessage]) -> list[tuple[str, Any]]:
    """What the tools called after the request returned, by tool name."""
    names: dict[str | None, str] = {}
    results: list[tuple[str, Any]] = []
    for message in messages:
        if isinstance(message, AIMessage):
            names.update((c["id"], c["name"]) for c in message.tool_calls)
        elif isinstance(message, ToolMessage):
            name = message.name or names.get(message.tool_call_id, "tool")
            results.append((name, message_text(message)))
    return results


def _fields(body: str) -> dict[str, str]:
    """The `key: value` lines of an input rendered for the model (a value may span lines)."""
    lines = body.strip("\n").splitlines()
    if not lines or not _FIELD.match(lines[0]):
        return {}
    fields: dict[str, str] = {}
    key = ""
    for line in lines:
        if (found := _FIELD.match(line)) and found[1] not in fields:
            key = found[1]
            fields[key] = found[2]
        elif key:
            fields[key] += "\n" + line
    return {k: v.strip() for k, v in fields.items()}


def _clean(text: str) -> str:
    """Text without simulated markers, on one line."""
    return " ".join(_MARKER.sub("", text).split())


def _topic(text: str, limit: int = 10) -> str:
    """What a text is about, short: its first sentence, without a leading `Please list`."""
    text = _clean(text)
    words = re.split(r"(?<=[.!?])\s+", text, maxsplit=1)[0].rstrip(".!?:;,").split()
    for _ in range(2):
        rest = _LEAD.sub("", " ".join(words), count=1).split()
        if len(rest) >= 2:
            words = rest
    if len(words) > limit:
        words = words[:limit]
        while len(words) > 1 and words[-1].lower() in _STOP:
            words.pop()
    return " ".join(words).rstrip(".!?:;,")


def _phrases(text: str) -> list[str]:
    """The items of the first list a text gives after a colon (`...: a, b and c.`)."""
    found = re.search(r":\s*([^.:\n]+)", _clean(text))
    if found is None:
        return []
    parts = re.split(r",\s*|\s+(?:and|or)\s+", found[1])
    return [p.strip() for p in parts if 1 <= len(p.split()) <= 5]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lower_first(text: str) -> str:
    """Lower-case the first letter of a heading or a sentence of common words, not a name."""
    first = text.split(" ", 1)[0]
    if text.lower() in _HEADINGS or first.lower() in _COMMON:
        return text[:1].lower() + text[1:]
    return text


def _tidy(text: str) -> str:
    """One space between words, and no word twice in a row."""
    words: list[str] = []
    for word in text.split():
        bare = re.sub(r"\W", "", word).lower()
        if (
            words
            and bare
            and words[-1][-1].isalnum()
            and re.sub(r"\W", "", words[-1]).lower() == bare
        ):
            words[-1] = word
        else:
            words.append(word)
    return " ".join(words)


def _aspect_order(rng: random.Random) -> list[tuple[str, tuple[str, ...]]]:
    """Headings for a plan: an opening, then the body in random order, closings last."""
    return [
        rng.choice(_OPENINGS),
        *rng.sample(_MIDDLES, len(_MIDDLES)),
        *rng.sample(_CLOSINGS, len(_CLOSINGS)),
    ]


def _slots(prompt: _Prompt, points: Sequence[str], shift: int, **more: str) -> dict[str, str]:
    n, at = len(points), 2 * shift  # the next sentence starts on the phrase after {q}
    return {
        "s": prompt.subject or "this",
        "a": prompt.aspect,
        "w": prompt.where,
        "d": prompt.dimension or "code",
        "p": points[at % n],
        "q": points[(at + 1) % n],
        "r": points[(at + 2) % n],
        **more,
    }


def _compose(prompt: _Prompt, rng: random.Random, words: int, bias: int) -> str:
    """A text answer: `[simulated]`, a heading, then sentences until about `words` words."""
    points = rng.sample(prompt.points, len(prompt.points))
    subject = _cap(prompt.subject) if prompt.subject else "Answer"
    more: dict[str, str] = {}
    bodies = _ANSWER
    said = not prompt.aspect or prompt.aspect.lower() in prompt.subject.lower()
    asked = subject.split(" ", 1)[0].lower() in _ASKS  # a question it could not shorten
    heading = f"{subject}{'?' if asked else '.'}" if said else f"{subject}: {prompt.aspect}."
    if prompt.intent == "digest":
        date = prompt.fields.get("date")
        heading = f"{subject}, {date}." if date else f"{subject}."
        sentences = [_describe(name, value, rng) for name, value in prompt.data]
        return _tidy(" ".join([SIMULATED_NOTICE, heading, *sentences]))
    if prompt.intent == "section":
        bodies = _SECTION
    elif prompt.intent == "review":
        bodies = _REVIEW
        what = f"{_cap(prompt.dimension)} review" if prompt.dimension else "Review"
        heading = f"{what} of {prompt.where}."
    elif prompt.intent == "moderate":
        bodies = _MODERATE
        heading = f"{subject}: policy check."
    elif prompt.intent == "classify":
        labels = _phrases(prompt.instructions) or ["neutral"]
        label = labels[bias % len(labels)] if rng.random() < 0.75 else rng.choice(labels)
        more["l"] = label
        bodies = _CLASSIFY
        heading = f"{_cap(label)}."
    elif prompt.intent == "plan":
        count = re.search(r"\b(\d+)\s+sections?\b", prompt.instructions)
        n = min(int(count[1]) if count else 4, 20)
        titles = [t.lower() for t, _ in _aspect_order(rng)[:n]]
        listed = titles[0] if n == 1 else f"{', '.join(titles[:-1])}, and {titles[-1]}"
        heading = f"A plan for {prompt.subject or 'the report'}."
        bodies = [
            f"It has {n} section{'s' if n != 1 else ''}: {listed}.",
            "Each section gets a title and a one-sentence focus.",
            "The order runs from context to detail.",
        ]
    order = rng.sample(range(len(bodies)), len(bodies)) if prompt.intent != "plan" else range(3)
    parts = [SIMULATED_NOTICE, heading]
    for shift, i in enumerate(order):
        parts.append(_cap(bodies[i].format(**_slots(prompt, points, shift, **more))))
        if len(" ".join(parts).split()) >= words and (len(parts) > 3 or words < 12):
            break
    return _tidy(" ".join(parts))


def _describe(name: str, value: Any, rng: random.Random) -> str:
    """One sentence on one piece of a briefing's data."""
    label = _cap(name.replace("_", " "))
    if isinstance(value, str) and value.startswith("unavailable"):
        status = value.partition(":")[2].strip() or "no result"
        return rng.choice(
            [f"{label} is unavailable ({status}).", f"{label}: unavailable ({status})."]
        )
    if isinstance(value, dict):
        rest = {k: v for k, v in value.items() if k != "source"}
        lists = [v for v in rest.values() if isinstance(v, list)]
        if len(rest) == 1 and lists:
            value = lists[0]
        else:
            return f"{label}: {_facts(rest)}."
    if isinstance(value, list):
        items = [g for g in (_gist(v) for v in value) if g]
        if not items:
            return f"{label}: nothing to report."
        if len(items) == 1:
            return f"{label}: {items[0]}."
        return rng.choice(
            [
                f"{label}: {items[0]}, and {len(items) - 1} more.",
                f"{label}: {items[0]}, first of {len(items)}.",
            ]
        )
    return f"{label}: {_gist(value) or 'nothing to report'}."


def _facts(value: dict[str, Any]) -> str:
    """A record's text first, then its figures with their units (`high 5 C`, `change +1.2%`)."""
    texts, figures = [], []
    for key, item in value.items():
        if isinstance(item, str) and (gist := _gist(item)):
            texts.append(gist)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            words = key.lower().split("_")
            unit = ""
            if len(words) > 1 and words[-1] in ("c", "f"):
                unit = " " + words.pop().upper()
            elif len(words) > 1 and words[-1] in ("pct", "percent"):
                words.pop()
                unit = "%"
            elif len(words) > 1 and words[-1] in ("bn", "m", "k"):
                unit = " " + words.pop()
            number = f"{item:+}" if "change" in words else f"{item}"
            named = " ".join(w.upper() if len(w) <= 2 else w for w in words)
            figures.append(f"{named} {number}{unit}")
    return ", ".join([*texts, *figures][:5]) or "nothing to report"


def _gist(value: Any, limit: int = 16) -> str:
    """The point of a text, in at most `limit` words: its first sentence after any heading."""
    sentences = re.split(r"(?<=[.!?])\s+", _clean(str(value)))
    if len(sentences) > 1 and (":" in sentences[0] or len(sentences[0].split()) <= 5):
        sentences = sentences[1:]
    words = sentences[0].split() if sentences else []
    if len(words) > limit:
        head = " ".join(words[:limit])
        cut = max(head.rfind(","), head.rfind(";"))
        words = (head[:cut] if cut > 0 else head).split()
        while len(words) > 1 and words[-1].lower() in _STOP:
            words.pop()
    return _lower_first(" ".join(words).rstrip(".!?:;,"))


_KINDS: list[tuple[str, frozenset[str]]] = [
    ("heading", frozenset({"title", "heading", "headline", "header", "caption"})),
    (
        "item",
        _wordset(
            "finding issue problem point step idea tip risk recommendation suggestion item pro "
            "con benefit drawback highlight action bullet takeaway concern"
        ),
    ),
    ("query", frozenset({"query", "querie", "search", "keyword", "term", "topic", "subject"})),
    (
        "sentence",
        _wordset(
            "summary focus description reason rationale explanation answer text content message "
            "comment note detail body justification analysis response conclusion overview "
            "verdict feedback paragraph sentence abstract"
        ),
    ),
]
_YES = _wordset("allowed safe valid compliant complies approved ok passed appropriate acceptable")


def _kind(name: str) -> str:
    """What a string field holds, from its name: a heading, a list item, a sentence..."""
    words = set(name.lower().split("_"))
    words |= {w[:-1] for w in words if w.endswith("s")}
    return next((kind for kind, names in _KINDS if words & names), "other")


class _Filler(SchemaFiller):
    """A `SchemaFiller` whose strings read like the answer: headings, findings, sentences.

    It knows the prompt, and what it filled so far in the current object (a section's
    title before its focus, a review's score and findings before its summary).
    """

    def __init__(
        self, schema: Mapping[str, Any], rng: random.Random, *, bias: int, prompt: _Prompt
    ) -> None:
        super().__init__(schema, rng, bias=bias, marker=SIMULATED_NOTICE)
        self.prompt = prompt
        self._points = rng.sample(prompt.points, len(prompt.points))
        self._seen: dict[str, Any] = {}
        self._counts: dict[str, int] = {}
        self._order: list[tuple[str, tuple[str, ...]]] = []
        self._noted: list[str] = []
        self._lists = 0

    def fill(
        self, schema: Mapping[str, Any] | None = None, *, name: str = "value", depth: int = 0
    ) -> Any:
        """A value for `schema`, remembered by field name for the fields after it."""
        value = super().fill(schema, name=name, depth=depth)
        self._seen[name] = value
        return value

    def _choose(self, options: list[Any]) -> Any:
        # The one option the instructions name (a reviewer told its dimension), or the one
        # the request names, mostly; else the biased choice.
        for text, odds in ((self.prompt.instructions, 1.0), (self.prompt.request, 0.8)):
            named = [o for o in options if isinstance(o, str) and o and _names(text, o)]
            if len(named) == 1 and (odds >= 1.0 or self.rng.random() < odds):
                return named[0]
        return super()._choose(options)

    def _boolean(self, schema: Mapping[str, Any], name: str, depth: int) -> bool:
        if set(name.lower().split("_")) & _YES:  # most requests pass a check
            return self.rng.random() < 0.85
        return super()._boolean(schema, name, depth)

    def _array(self, schema: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        self._lists += 1
        try:
            return super()._array(schema, name, depth)
        finally:
            self._lists -= 1

    def _string(self, schema: Mapping[str, Any], name: str, depth: int) -> str:
        if schema.get("format") in ("date-time", "date", "email", "uri", "url"):
            return super()._string(schema, name, depth)
        text = _tidy(f"{self.marker} {self._text(name)}")
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        for template in _ANSWER:
            if len(text) >= low:
                break
            text += " " + template.format(**_slots(self.prompt, self._points, len(text)))
        if high is not None and len(text) > high:
            text = text[:high]
        return text.ljust(low, "x")

    def _point(self, n: int) -> str:
        return self._points[n % len(self._points)]

    def _text(self, name: str) -> str:
        kind = _kind(name)
        n = self._counts.get(kind, 0)
        self._counts[kind] = n + 1
        prompt = self.prompt
        if kind == "heading":
            if self._lists or n:
                return self._heading(n)
            if prompt.subject:
                return f"{_cap(prompt.subject)}: {prompt.aspect or 'an overview'}"
            return "An overview"
        if kind == "item":
            point = self._point(n)
            self._noted.append(point)
            templates = _FINDINGS if prompt.intent == "review" else _ITEMS
            return _cap(self.rng.choice(templates).format(**_slots(prompt, [point], 0)))
        if kind == "query":
            return (
                prompt.subject
                if n == 0 or not prompt.subject
                else f"{prompt.subject} {self._point(n)}"
            )
        if kind == "sentence":
            return self._sentence(name, n)
        return _cap(prompt.subject) if prompt.subject else name.replace("_", " ")

    def _heading(self, n: int) -> str:
        if not self._order:
            self._order = _aspect_order(self.rng)
        title = self._order[n % len(self._order)][0]
        return title if n < len(self._order) else f"{title} (part {n // len(self._order) + 1})"

    def _sentence(self, name: str, n: int) -> str:
        prompt, seen = self.prompt, self._seen
        title = _clean(str(seen.get("title", "")))
        if name == "focus" and title:
            points = _HEADINGS.get(title.lower(), tuple(self._points))
            slots = _slots(prompt, points, 0, a=_lower_first(title))
            return _cap(self.rng.choice(_FOCUS).format(**slots))
        score = seen.get("score")
        if name == "summary" and isinstance(score, int | float) and not isinstance(score, bool):
            ratio = score / 10 if score > 1 else score
            template = next(t for limit, t in _VERDICTS if ratio <= limit)
            dimension = seen.get("dimension")
            d = dimension if isinstance(dimension, str) else prompt.dimension or "code"
            point = self._noted[0] if self._noted else self._point(0)
            return template.format(**_slots(prompt, [point], 0, d=d))
        allowed = seen.get("allowed")
        if isinstance(allowed, bool):
            rules = _phrases(prompt.instructions) or ["its rules"]
            template = self.rng.choice(_ALLOWED if allowed else _BLOCKED)
            return template.format(**_slots(prompt, [_lower_first(rules[0])], 0))
        sentence = self.rng.choice(_ANSWER).format(**_slots(prompt, self._points, n))
        if not prompt.subject:
            return sentence
        return f"For {prompt.subject}, {sentence[:1].lower()}{sentence[1:]}"


def _names(text: str, option: str) -> bool:
    return re.search(rf"\b{re.escape(option.lower())}\b", text.lower()) is not None
