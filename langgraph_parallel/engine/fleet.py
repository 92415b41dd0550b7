"""One adaptive limit for a whole fleet of processes, kept in Redis.

An `AdaptiveLimit` learns a provider's capacity inside one process. When several processes
call the same provider (service workers, batch jobs, cluster workers, CLI runs), each would
learn alone, probe alone and meet its own 429s. A `SharedAdaptiveLimit` keeps the one
algorithm's state (`limits.Window`) and the places held in Redis, so the fleet learns once:

- Places are taken and given back by a script that runs on the server, so the count is
  atomic. Each process holds its places as a lease (its count and an expiry), renewed by a
  background thread; a process that dies gives its places back when its lease runs out.
- Each success or 429 steps the fleet's state in one Redis transaction (WATCH/MULTI), with
  the server's clock, so a cut happens at most once per round trip across the fleet.
- One background thread per process (the keeper) does all the talking with Redis, so no
  event loop blocks on it (the LangGraph server refuses blocking calls in its loop): a call
  asking for a place waits, and the keeper takes one in the fleet for it; successes and
  429s are queued for it. While calls wait, it looks for freed places every 10 ms.

When Redis cannot be reached, the process falls back to an in-process limit at its share of
the fleet's (one warning in the log) and goes back to the fleet's when Redis answers again.
Nothing is lost or failed because of it.

```text
 process A's keeper ──take/give back, renew──►  Redis  ◄── process B's keeper
   grants A's waiters                           state: the Window (value, slow start, ...)
   steps the state with A's outcomes ─────────► holders: A → "3:<expiry>:<waiting>", B → ...
```
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
import uuid
import weakref
from collections import deque
from dataclasses import asdict, fields
from typing import Any
from urllib.parse import urlsplit

from langgraph_parallel.engine.limits import AdaptiveLimit, Window, named_limit
from langgraph_parallel.engine.redact import redact
from langgraph_parallel.state.records import LimitState

LIMITS_URL_ENV = "LANGGRAPH_PARALLEL_LIMITS_URL"
"""With this set to a Redis URL, every `max_concurrency="auto"` limit is shared by the fleet."""

PREFIX = "langgraph-parallel:limit:"
"""Every key a shared limit writes starts with this, then the limit's name."""

_log = logging.getLogger("langgraph_parallel.fleet")

# Take (or give back) places: KEYS = holders hash, state hash; ARGV = process, places wanted,
# lease in ms, the limit to use (and keep) when the state has none yet, "1" to set regardless
# of the limit (renewing, giving back, or coming back after an outage), how long the state
# is kept unused (ms), and how many calls wait in this process.
# A holder's value is "places:expiry in ms:calls waiting"; expired ones are dropped as met.
# While other processes have calls waiting, a process takes no more than its fair share of
# the limit (the limit over the processes that want places), so a process that gives a
# place back and takes it again at once cannot starve one that started later.
# Returns {taken (1 or 0), places held in the fleet, the limit, processes holding places,
# other processes with calls waiting}.
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local proc, want, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local waiting = tonumber(ARGV[7])
local flat = redis.call('HGETALL', KEYS[1])
local others, mine, holding, wanting = 0, 0, 0, 0
for i = 1, #flat, 2 do
  local places, expiry, queued = string.match(flat[i + 1], '^(%d+):(%d+):?(%d*)$')
  places, expiry, queued = tonumber(places), tonumber(expiry), tonumber(queued) or 0
  if places == nil or expiry < now then
    redis.call('HDEL', KEYS[1], flat[i])
  elseif flat[i] == proc then
    mine = places
  else
    others = others + places
    if places > 0 then holding = holding + 1 end
    if queued > 0 then wanting = wanting + 1 end
  end
end
local value = tonumber(redis.call('HGET', KEYS[2], 'value') or ARGV[4])
if redis.call('HSETNX', KEYS[2], 'value', ARGV[4]) == 1 then  -- the first: its start
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
local limit = math.floor(value)
local share = math.ceil(limit / (wanting + 1))
local ok = ARGV[5] == '1' or want <= mine
  or (others + want <= limit and (wanting == 0 or want <= share))
local held = mine
if ok then held = want end
if held > 0 or waiting > 0 then
  redis.call('HSET', KEYS[1], proc, string.format('%d:%d:%d', held, now + lease, waiting))
  redis.call('PEXPIRE', KEYS[1], lease * 20)
else
  redis.call('HDEL', KEYS[1], proc)
end
if held > 0 then holding = holding + 1 end
return {ok and 1 or 0, others + held, limit, holding, wanting}
"""

_STATE_TTL_MS = 7 * 24 * 3600 * 1000  # a learned capacity is kept for a week of disuse


def check_url(url: str, what: str = "shared") -> str:
    """`url` if it is a Redis URL this package can use; else a `ValueError` naming the fix."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or not (
        (parts.scheme in ("redis", "rediss") and parts.hostname)
        or (parts.scheme == "unix" and parts.path)
    ):
        raise ValueError(
            f"{what}={redact(repr(url))} is not a Redis URL; pass one like "
            "redis://localhost:6379/0 "
            f"(or set {LIMITS_URL_ENV} to one)"
        )
    try:
        import redis  # noqa: F401
    except ImportError:
        raise ValueError(
            "a limit shared through Redis needs the redis package: "
            "pip install 'langgraph-parallel[redis]'"
        ) from None
    return url


class SharedAdaptiveLimit(AdaptiveLimit):
    """An `AdaptiveLimit` whose state and places the whole fleet shares through Redis.

    Every process that makes one with the same `name` and Redis shares one limit: the
    algorithm is `AdaptiveLimit`'s (slow start, +1 per round trip, x0.9 on a 429 at most
    once per round trip, floor and ceiling), stepped on the fleet's state, and the places
    it allows are counted across processes. A new process starts at the level the fleet
    learned. `adaptive_limit(..., shared=url)` and `LANGGRAPH_PARALLEL_LIMITS_URL` make one
    for you; one per name and URL per process.

    All its talk with Redis happens on one background thread per process (the keeper), so
    no event loop ever blocks on it: a call asking for a place waits as a waiter, and the
    keeper grants it; successes and 429s are queued for the keeper to step the fleet's
    state with.

    Args:
        url: The Redis (or Valkey) server, e.g. `redis://localhost:6379/0`.
        name: The limit's name, the same in every process (e.g. the provider's).
        initial: As `AdaptiveLimit`'s, for the first process, when Redis knows nothing of
            the limit yet.
        floor: As `AdaptiveLimit`'s.
        ceiling: As `AdaptiveLimit`'s.
        backoff: As `AdaptiveLimit`'s.
        lease: Seconds a process's places outlive it if it dies without giving them back.

    Raises:
        ValueError: For a `url` that is not a Redis URL, or without the redis package.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str,
        initial: int = 1,
        floor: int = 1,
        ceiling: int | None = None,
        backoff: float = 0.9,
        lease: float = 3.0,
    ) -> None:
        super().__init__(initial=initial, floor=floor, ceiling=ceiling, backoff=backoff, name=name)
        self.url = check_url(url)
        if not lease > 0:
            raise ValueError(f"SharedAdaptiveLimit: lease must be > 0 seconds, got {lease!r}")
        self.lease_seconds = lease
        self._state_key = f"{PREFIX}{{{name}}}"
        self._holders_key = f"{PREFIX}{{{name}}}:holders"
        # the fleet at the keeper's last look: places held, processes holding, and other
        # processes with calls waiting
        self._fleet = {"in_flight": 0, "processes": 0, "wanting": 0}
        self._mode = "connecting"  # then "fleet", or "local" while Redis is out of reach
        self._warned = False
        # places given back, and outcomes told, by callers; and how many of each the keeper
        # has told the fleet of
        self._given = self._given_told = 0
        self._feedback: deque[tuple[bool, float, float]] = deque()  # (429, took, when)
        self._outcomes = self._outcomes_told = 0
        self._nudge = threading.Event()
        self._pid = -1
        self._proc = ""
        self._redis: Any = None
        self._hold: Any = None
        self._connect()

    def __reduce__(self) -> tuple[Any, ...]:
        # To a cluster worker as what it is: that process's limit of the same name and URL.
        settings = {
            "initial": self.initial,
            "floor": self.floor,
            "ceiling": self.ceiling,
            "backoff": self.backoff,
            "lease": self.lease_seconds,
        }
        return _same_limit, (self.url, self.name, settings)

    @property
    def shared(self) -> bool:
        """Whether the fleet's limit is in use now (`False` while Redis cannot be reached)."""
        return self._mode == "fleet"

    def state(self) -> LimitState:
        """The fleet's limit, places held across the fleet, 429s, and processes holding."""
        if not self.shared:
            return {**super().state(), "shared": False, "processes": 1}
        return {
            "limit": self._limit,
            "in_flight": self._fleet["in_flight"],
            "rejections": self.rejections,
            "shared": True,
            "processes": self._fleet["processes"],
        }

    # -- what callers do: no Redis here, only the keeper is told (with the lock held) --

    def _admit(self) -> bool:
        self._started()
        if self._mode == "local":
            return super()._admit()
        self._nudge.set()  # the keeper asks the fleet, and grants the waiter
        return False

    def _gave_back(self) -> None:
        if self._mode == "local":
            return
        wanting = self._fleet["wanting"]
        if (
            self._waiters
            and self._fleet["in_flight"] <= self._limit
            and (not wanting or self._active < math.ceil(self._limit / (wanting + 1)))
            and self._hand_over()
        ):
            return  # straight to a caller waiting here: the fleet's count is the same
        self._given += 1
        self._nudge.set()

    def _wake(self) -> None:
        if self._mode == "local":
            super()._wake()
        elif self._waiters:
            self._nudge.set()

    def _over(self) -> bool:
        if self._mode == "local":
            return super()._over()
        return self._fleet["in_flight"] > self._limit

    def succeeded(self, sent_at: float) -> None:
        """A call sent at `sent_at` (`time.perf_counter()`) succeeded: step the fleet's state."""
        if self._mode == "local":
            super().succeeded(sent_at)
        else:
            self._tell(False, sent_at)

    def rejected(self, sent_at: float, retry_after: float | None = None) -> float:
        """A call sent at `sent_at` was rejected (429): step the fleet's state.

        Returns the wait before sending it again, as `AdaptiveLimit.rejected` does (the
        round trip the fleet last measured).
        """
        if self._mode == "local":
            return super().rejected(sent_at, retry_after)
        self._tell(True, sent_at)
        return retry_after if retry_after is not None else self._window.rtt or 0.05

    def _tell(self, rejected: bool, sent_at: float) -> None:
        now = time.perf_counter()
        with self._lock:
            self._feedback.append((rejected, now - sent_at, now))
            self._outcomes += 1
        self._nudge.set()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the fleet has been told of every outcome and place given back so far.

        The keeper tells Redis in the background; call this before reading the fleet's
        state from elsewhere, or before a short-lived process exits (it runs at exit too).
        Returns whether everything was told (or the limit is local, with nothing to tell).
        """
        outcomes, given = self._outcomes, self._given
        deadline = time.monotonic() + timeout
        while self._mode != "local" and (
            self._outcomes_told < outcomes or self._given_told < given
        ):
            if time.monotonic() >= deadline:
                return False
            self._nudge.set()
            time.sleep(0.005)
        return True

    def _started(self) -> None:
        """Give this process its holder's name and its keeper (again in a forked child)."""
        if self._pid == os.getpid():
            return
        forked = self._pid != -1
        self._pid, self._proc = os.getpid(), f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        if forked:  # a child holds none of its parent's places, and has none of its callers
            self._active = 0
            self._waiters.clear()
            self._feedback.clear()
            self._outcomes = self._outcomes_told = self._given = self._given_told = 0
            self._mode = "connecting"
        _made.add(self)
        threading.Thread(
            target=_keep, args=(weakref.ref(self),), name=f"lgp-limit-{self.name}", daemon=True
        ).start()

    # -- the keeper's side: the only code that talks to Redis --

    def _call_hold(self, want: int, *, force: bool, waiting: int) -> bool:
        """Set this process's places in the fleet to `want` (if the fleet allows it)."""
        taken, in_flight, limit, processes, wanting = self._hold(
            keys=[self._holders_key, self._state_key],
            args=[
                self._proc,
                want,
                int(self.lease_seconds * 1000),
                int(self._window.value),
                "1" if force else "0",
                _STATE_TTL_MS,
                waiting,
            ],
        )
        self._fleet = {
            "in_flight": int(in_flight),
            "processes": int(processes),
            "wanting": int(wanting),
        }
        with self._lock:
            if int(limit) != self._limit:
                self._limit = int(limit)
                self._note()
        return bool(taken)

    def _sync(self) -> None:
        """Tell the fleet the places this process holds now, and renew their lease."""
        with self._lock:
            active, waiting, given = self._active, len(self._waiters), self._given
        self._call_hold(active, force=True, waiting=waiting)
        self._given_told = given

    def _take_for_waiters(self) -> None:
        """Take places in the fleet for this process's waiters, while the fleet allows."""
        while True:
            with self._lock:
                active, waiting = self._active, len(self._waiters)
            if not waiting or not self._call_hold(active + 1, force=False, waiting=waiting):
                return
            with self._lock:
                if not (self._waiters and self._active == active and self._hand_over()):
                    self._given += 1  # a caller left, or gave one back: tell the fleet afresh
                    return

    def _step_all(self) -> None:
        """Step the fleet's state with each success and 429 told since the last time."""
        while self._feedback:
            rejected, took, _ = self._feedback.popleft()
            self._step(took, rejected=rejected)
            self._outcomes_told += 1

    def _step(self, took: float, *, rejected: bool) -> None:
        """Step the fleet's window with one call's outcome, in one transaction."""
        import redis

        with self._redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self._state_key)
                    stored = pipe.hgetall(self._state_key)
                    seconds, micros = pipe.time()
                    now = seconds + micros / 1e6
                    window = self._load(stored)
                    if rejected:
                        window.rejected(now, now - took)
                    else:
                        active = max(self._fleet["in_flight"], self._active)
                        window.succeeded(now, now - took, active)
                    pipe.multi()
                    pipe.hset(self._state_key, mapping=_dump(window))
                    pipe.pexpire(self._state_key, _STATE_TTL_MS)
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
        with self._lock:
            self._window = window
            self._follow(always=rejected)

    def _load(self, stored: dict[bytes, bytes]) -> Window:
        """The fleet's window from its hash; this process's when the fleet has none yet."""
        return _loaded({k.decode(): v.decode() for k, v in stored.items()}, self._window)

    def _connect(self) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # One retry at once, on a fresh connection (a pooled one may predate a restart of
        # the server); then the keeper falls back rather than wait.
        self._redis = redis.Redis.from_url(
            self.url,
            socket_connect_timeout=1.0,
            socket_timeout=2.0,
            health_check_interval=5,
            retry=Retry(NoBackoff(), 1),
        )
        self._hold = self._redis.register_script(_HOLD)

    def _reachable(self) -> bool:
        try:
            self._redis.ping()
        except Exception as exc:
            if not _redis_error(exc):
                raise
            return False
        return True

    def _go_local(self, exc: BaseException | None) -> None:
        """Redis is gone: limit this process alone, at its share of the fleet's limit."""
        self._redis.connection_pool.disconnect()  # none of its connections is any use now
        with self._lock:
            if self._mode == "local":
                return
            share = max(self._limit // max(self._fleet["processes"], 1), self.floor)
            self._window.value = float(share)
            self._window._set(self._window.value)
            self._mode = "local"
            self._limit = int(self._window.value)
            self._note()
            told, self._feedback = list(self._feedback), deque()
            self._outcomes_told += len(told)
            super()._wake()
        for rejected, took, when in told:  # what the fleet was not told, told here
            if rejected:
                super().rejected(when - took)
            else:
                super().succeeded(when - took)
        if not self._warned:
            self._warned = True
            _log.warning(
                "the shared limit %r cannot reach Redis at %s (%s); this process limits "
                "itself alone, at %d, until Redis answers again",
                self.name,
                redact(self.url),
                exc or "no answer",
                self._limit,
            )

    def _come_back(self) -> None:
        """Redis answers: hand it this process's places and use the fleet's limit."""
        self._sync()  # places held now count in the fleet, whatever its limit
        with self._lock:
            self._mode = "fleet"
        if self._warned:
            self._warned = False
            _log.warning("the shared limit %r reaches Redis again", self.name)


_made: weakref.WeakSet[SharedAdaptiveLimit] = weakref.WeakSet()
"""The shared limits in use in this process, for telling the fleet what is left at exit."""


@atexit.register
def _flush_at_exit() -> None:
    for limit in list(_made):
        limit.flush(timeout=2.0)


def _redis_error(exc: BaseException) -> bool:
    """Whether `exc` says Redis is out of reach (as opposed to a bug)."""
    import redis

    return isinstance(exc, (redis.ConnectionError, redis.TimeoutError, OSError))


def _keep(ref: weakref.ReferenceType[SharedAdaptiveLimit]) -> None:
    """The keeper: connect, grant waiters, step the fleet's state, renew the lease.

    It holds the limit only by a weak reference between rounds, and ends when the limit is
    gone or the process has forked (the child starts its own).
    """
    limit = ref()
    if limit is None:
        return
    pid, every = limit._pid, limit.lease_seconds / 3
    nudge = limit._nudge
    renewed = tried = -math.inf
    del limit
    while True:
        limit = ref()
        if limit is None or limit._pid != pid:
            return
        nudge.clear()
        pause = every
        try:
            if limit._mode != "fleet" and time.monotonic() - tried >= 1.0:
                tried = time.monotonic()
                if limit._reachable():
                    limit._come_back()
                    renewed = time.monotonic()
                elif limit._mode == "connecting":
                    limit._go_local(None)
            if limit._mode == "fleet":
                limit._step_all()
                if limit._given_told < limit._given or time.monotonic() - renewed >= every:
                    limit._sync()
                    renewed = time.monotonic()
                limit._take_for_waiters()
                # a place freed in another process is not told: look again soon
                pause = 0.01 if limit._waiters else every
            else:
                pause = 1.0
        except Exception as exc:
            if not _redis_error(exc):  # a bug: no caller may wait for a keeper that died
                _log.exception("the shared limit %r's keeper failed", limit.name)
            limit._go_local(exc)
        limit = None
        nudge.wait(pause)


def adaptive_limit(
    provider: str,
    *,
    base_url: str | None = None,
    model: str | None = None,
    shared: str | None = None,
) -> AdaptiveLimit:
    """The process-wide `AdaptiveLimit` of one provider endpoint, made on first use.

    Every graph, run and thread that asks for the same `(provider, base_url, model)` gets
    the same limit, so what one learns about the provider's capacity the others use. It is
    named `provider/base_url/model` (the parts given), in the same registry as
    `shared_limit`'s names.

    With `shared` (a Redis URL), or `LANGGRAPH_PARALLEL_LIMITS_URL` set, it is a
    `SharedAdaptiveLimit`: one limit for every process of the fleet that uses that Redis.

    Raises:
        ValueError: For a `shared` (or environment) value that is not a Redis URL.

    Example:
        ```python
        from langgraph_parallel import adaptive_limit

        assert adaptive_limit("openai") is adaptive_limit("openai")
        assert adaptive_limit("openai", model="gpt-4o-mini") is not adaptive_limit("openai")
        assert adaptive_limit("openai", model="gpt-4o-mini").name == "openai/gpt-4o-mini"
        ```
    """
    name = "/".join(part for part in (provider, base_url, model) if part)
    return auto_limit(name, shared=shared)


def auto_limit(name: str, *, shared: str | None = None) -> AdaptiveLimit:
    """The limit `name` of the process, or of the fleet with a Redis URL.

    The URL is `shared`, else `LANGGRAPH_PARALLEL_LIMITS_URL`; with neither, the process's.
    """
    url = check_url(shared) if shared is not None else fleet_url()
    if url is None:
        limit: AdaptiveLimit = named_limit(name, AdaptiveLimit, lambda: AdaptiveLimit(name=name))
        return limit
    return shared_adaptive_limit(url, name)


def own_limit(name: str) -> AdaptiveLimit:
    """A factory's `max_concurrency="auto"`: an `AdaptiveLimit` of its own.

    With `LANGGRAPH_PARALLEL_LIMITS_URL` set, the fleet's limit called `name`.
    """
    url = fleet_url()
    return AdaptiveLimit(name=name) if url is None else shared_adaptive_limit(url, name)


def shared_adaptive_limit(url: str, name: str, **settings: Any) -> SharedAdaptiveLimit:
    """This process's `SharedAdaptiveLimit` called `name` on `url`, made on first use.

    `settings` are `SharedAdaptiveLimit`'s (`initial`, `floor`, ...), used when it is made.
    """

    def make() -> SharedAdaptiveLimit:
        return SharedAdaptiveLimit(url, name=name, **settings)

    limit: SharedAdaptiveLimit = named_limit(name, SharedAdaptiveLimit, make)
    if limit.url != url:
        raise ValueError(
            f"the limit named {name!r} is already shared through {redact(limit.url)}, "
            f"not {redact(url)}; give this one another name"
        )
    return limit


def _same_limit(url: str, name: str, settings: dict[str, Any]) -> SharedAdaptiveLimit:
    return shared_adaptive_limit(url, name, **settings)


def fleet_url() -> str | None:
    """`LANGGRAPH_PARALLEL_LIMITS_URL`, checked, or `None` when it is not set."""
    url = os.environ.get(LIMITS_URL_ENV, "").strip()
    return check_url(url, LIMITS_URL_ENV) if url else None


def _loaded(stored: dict[str, str], base: Window) -> Window:
    """A window from its hash, as `_dump` wrote it.

    Its settings (floor, ceiling, backoff), and the fields the hash lacks, are `base`'s.
    """
    values: dict[str, Any] = {}
    for field in fields(Window):
        text, kind = stored.get(field.name), str(field.type)
        if field.name in ("floor", "ceiling", "backoff") or not text:
            values[field.name] = getattr(base, field.name)
        elif kind == "bool":
            values[field.name] = text == "1"
        elif kind == "int":
            values[field.name] = int(text)
        else:
            values[field.name] = float(text)
    window = Window(**values)
    window._set(window.value)  # within base's floor and ceiling
    return window


def _dump(window: Window) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in asdict(window).items():
        if key in ("floor", "ceiling", "backoff"):
            continue
        if value is None:
            out[key] = ""
        elif isinstance(value, bool):
            out[key] = "1" if value else "0"
        else:
            out[key] = repr(value)
    return out


_FRESH = Window.start(initial=1, floor=1, ceiling=None, backoff=0.9)
"""What a limit's hash that holds only its first value stands for: slow start, nothing told."""


def fleet_limits(url: str) -> list[dict[str, Any]]:
    """Every shared limit kept in the Redis at `url`, by name, as the fleet holds it now.

    Each is `{"name", "limit", "in_flight", "processes", "rejections", "successes",
    "round_trip", "slow_start"}`: places held by processes whose lease is still running.

    Raises:
        ValueError: For a `url` that is not a Redis URL.
        redis.ConnectionError: When Redis cannot be reached.
    """
    import redis

    client: Any = redis.Redis.from_url(check_url(url), socket_connect_timeout=2, socket_timeout=5)
    try:
        seconds, micros = client.time()
        now = seconds * 1000 + micros // 1000
        found = []
        for key in sorted(client.scan_iter(match=f"{PREFIX}{{*}}", count=200)):
            text = key.decode()
            state = {k.decode(): v.decode() for k, v in client.hgetall(key).items()}
            if not text.endswith("}") or "value" not in state:
                continue
            held = []
            for value in client.hgetall(f"{text}:holders").values():
                places, expiry, *_ = (value.decode() + ":").split(":")
                if expiry.isdigit() and int(expiry) >= now and places.isdigit():
                    held.append(int(places))
            window = _loaded(state, _FRESH)
            found.append(
                {
                    "name": text[len(PREFIX) + 1 : -1],
                    "limit": int(window.value),
                    "in_flight": sum(held),
                    "processes": sum(1 for places in held if places > 0),
                    "rejections": window.rejections,
                    "successes": window.successes,
                    "round_trip": window.rtt,
                    "slow_start": window.slow_start,
                }
            )
        return found
    finally:
        client.close()
