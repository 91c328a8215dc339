"""Scheduled pulls: the ``pulls.toml`` that ``liqtk pull --config`` runs, ``liqtk pull --all``, and
running such a list of pulls one after the other.

A ``pulls.toml`` (README.md, "Scheduled pulls")::

    store = "/var/lib/liqtk/liquidations.duckdb"   # optional; --store overrides it

    [defaults]                                     # optional; any pull option below but chain/protocols/rpc_env
    to = "finalized"

    [[pull]]
    chain = "ethereum"                             # a chain of the registry
    protocols = ["aave-v3", "aave-v2", "spark"]    # optional: every protocol the registry has on the chain
    rpc_env = "LIQTK_RPC_ETHEREUM"                 # optional: the chain's variable; holds the RPC URL
    to = "finalized"                               # finalized | safe | latest | a block number
    confirmations = 0                              # with to = "latest"
    since = 2024-08-05                             # first pull only; or from_block = 20000000
    state = "before-tx"                            # before-tx | block | none (no_state = true: none)
    blocks_per_request = 2000
    rpc_timeout = 30
    verify = "bloom"                               # bloom | receipts | none (README "Pull from your own node")

The file holds no URL: RPC URLs (and their keys) stay in the environment variables it names. The
whole file is validated before anything runs; each problem is one line naming the file and the field
(``pulls.toml: pull[2].protocols: unknown protocol 'aave-v9' ...``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from toolkit.chain.completeness import VERIFY_MODES
from toolkit.errors import StoreLockedError, ToolkitError, UserInputError
from toolkit.pipeline import ProgressCallback, PullInterrupted, PullRequest, PullResult, pull_async
from toolkit.protocols import registry
from toolkit.protocols.enrichment import STATE_MODES
from toolkit.settings import parse_bound, parse_since

#: Keys of the file's top level.
TOP_KEYS = ("store", "defaults", "pull")
#: What an environment variable name may look like.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class PullPlan:
    """One pull of a schedule: one protocol on one chain, the variable holding the RPC URL, and options."""

    chain: str
    protocol: str
    rpc_env: str
    to: str | int = "finalized"
    confirmations: int = 0
    from_block: int | None = None
    since: datetime | None = None
    no_state: bool = False
    state: str = "before-tx"
    blocks_per_request: int | None = None
    rpc_timeout: float = 30.0
    verify: str = "bloom"
    #: Where the plan comes from, for messages (``pulls.toml: pull[1]``); None for ``--all``.
    source: str | None = field(default=None, compare=False)

    def request(self, store_path: Path, environ: Mapping[str, str], *, rpc_url: str | None = None,
                lock_wait: float = 0.0) -> PullRequest:
        """The :class:`PullRequest`, with the URL from ``rpc_url`` or else the plan's variable."""
        url = rpc_url or environ.get(self.rpc_env, "").strip()
        if not url and self.source is not None:
            raise UserInputError(f"{self.source}.rpc_env: {self.rpc_env} is not set (no RPC URL for "
                                 f"{self.chain}/{self.protocol}); set {self.rpc_env} to the node's URL")
        if not url:
            raise UserInputError(f"no RPC URL for {self.chain}/{self.protocol}: set {self.rpc_env}")
        return PullRequest(chain=self.chain, protocol=self.protocol, rpc_url=url, store_path=store_path,
                           from_block=self.from_block, since=self.since, to=self.to, confirmations=self.confirmations,
                           no_state=self.no_state, state=self.state, blocks_per_request=self.blocks_per_request,
                           rpc_timeout=self.rpc_timeout, verify=self.verify, lock_wait=lock_wait)


#: Options a ``[[pull]]`` or ``[defaults]`` table may set, besides chain, protocols and rpc_env.
OPTION_KEYS = tuple(f.name for f in fields(PullPlan) if f.name not in ("chain", "protocol", "rpc_env", "source"))
PULL_KEYS = ("chain", "protocols", "rpc_env", *OPTION_KEYS)


@dataclass(frozen=True)
class Schedule:
    """The pulls to run, in order, and the store the file names (``None``: ``--store`` or the default)."""

    plans: tuple[PullPlan, ...]
    store: Path | None = None


@dataclass(frozen=True)
class PlanOutcome:
    """How one pull of a schedule ended: ``status`` is ``ok`` (the store changed), ``nothing_new``,
    ``partial``, ``failed``, ``invalid`` (bad input) or ``locked`` (another process writes the store)."""

    plan: PullPlan
    status: str
    result: PullResult | None = None
    error: str | None = None


def _unknown(where: str, key: str, known: Sequence[str]) -> UserInputError:
    return UserInputError(f"{where}: unknown key {key!r}; known keys: {', '.join(known)}")


def _option(where: str, key: str, value: Any) -> Any:
    """One option's value, checked and converted (``where`` names the table in messages)."""
    name = f"{where}.{key}"
    if key == "to":
        return parse_bound(value, name)
    if key == "since":
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, date):
            return datetime.combine(value, time(), UTC)
        return parse_since(value, name)
    if key == "no_state":
        if not isinstance(value, bool):
            raise UserInputError(f"{name}: {value!r} is not true or false")
        return value
    if key == "state":
        if value not in STATE_MODES:
            raise UserInputError(f"{name}: {value!r} is not one of {', '.join(STATE_MODES)}")
        return value
    if key == "verify":
        if value not in VERIFY_MODES:
            raise UserInputError(f"{name}: {value!r} is not one of {', '.join(VERIFY_MODES)}")
        return value
    if key == "rpc_timeout":
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise UserInputError(f"{name}: {value!r} is not a number of seconds > 0")
        return float(value)
    least = {"confirmations": 0, "from_block": 0, "blocks_per_request": 1}[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UserInputError(f"{name}: {value!r} is not a whole number >= {least}")
    return value


def _options(where: str, table: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _option(where, key, value) for key, value in table.items() if key in OPTION_KEYS}


def _plans(where: str, entry: Any, defaults: Mapping[str, Any]) -> list[PullPlan]:
    if not isinstance(entry, dict):
        raise UserInputError(f"{where}: not a table; write it as [[pull]] with chain = \"...\"")
    for key in entry:
        if key not in PULL_KEYS:
            raise _unknown(where, key, PULL_KEYS)
    if "chain" not in entry:
        raise UserInputError(f"{where}: chain is missing; add chain = \"ethereum\" (or another registry chain)")
    if not isinstance(entry["chain"], str):
        raise UserInputError(f"{where}.chain: {entry['chain']!r} is not a chain name")
    try:
        chain = registry().chain(entry["chain"])
    except UserInputError as exc:
        raise UserInputError(f"{where}.chain: {exc}") from None
    on_chain = sorted({d.protocol for d in registry().deployments if d.chain.name == chain.name})
    protocols = entry.get("protocols", on_chain)
    if not isinstance(protocols, list) or not protocols or not all(isinstance(p, str) for p in protocols):
        raise UserInputError(f"{where}.protocols: {protocols!r} is not a non-empty list of protocol ids")
    for protocol in protocols:
        if protocol not in on_chain:
            what = "unknown protocol" if protocol not in registry().protocols() else "no deployment of"
            raise UserInputError(f"{where}.protocols: {what} {protocol!r} on {chain.name}; "
                                 f"the registry has {', '.join(on_chain)} there")
    rpc_env = entry.get("rpc_env", chain.rpc_env)
    if not isinstance(rpc_env, str) or not _ENV_NAME.fullmatch(rpc_env):
        raise UserInputError(f"{where}.rpc_env: {rpc_env!r} is not an environment variable name")
    options = {**defaults, **_options(where, entry)}
    if options.get("from_block") is not None and options.get("since") is not None:
        raise UserInputError(f"{where}: set either from_block or since, not both")
    return [PullPlan(chain=chain.name, protocol=protocol, rpc_env=rpc_env, source=where, **options)
            for protocol in dict.fromkeys(protocols)]


def load_schedule(path: Path) -> Schedule:
    """Read and validate a ``pulls.toml``; :class:`UserInputError` names the file and the field."""
    source = str(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise UserInputError(f"{source}: cannot read it ({exc.strerror or exc}); pass the path of a pulls.toml") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserInputError(f"{source}: not valid TOML ({exc}); fix the file") from None
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{source}: not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8") from None
    for key in data:
        if key not in TOP_KEYS:
            raise _unknown(source, key, TOP_KEYS)
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise UserInputError(f"{source}: defaults is not a table; write it as [defaults]")
    for key in defaults:
        if key not in OPTION_KEYS:
            raise _unknown(f"{source}: defaults", key, OPTION_KEYS)
    default_options = _options(f"{source}: defaults", defaults)
    entries = data.get("pull")
    if not isinstance(entries, list) or not entries:
        raise UserInputError(f"{source}: no [[pull]] table; add one per chain to pull")
    plans = [plan for number, entry in enumerate(entries, start=1)
             for plan in _plans(f"{source}: pull[{number}]", entry, default_options)]
    store = data.get("store")
    if store is not None and (not isinstance(store, str) or not store.strip()):
        raise UserInputError(f"{source}: store: {store!r} is not a file path")
    return Schedule(plans=tuple(plans), store=Path(store).expanduser() if store else None)


def all_protocols(chain: str | None, environ: Mapping[str, str], options: Mapping[str, Any],
                  *, rpc_given: bool = False) -> Schedule:
    """``--all``: every protocol of the registry on ``chain``, or, without a chain, on every chain whose
    RPC variable is set; ``options`` (:data:`OPTION_KEYS`) apply to each pull."""
    if chain is not None:
        chains = [registry().chain(chain)]
    else:
        if rpc_given:
            raise UserInputError("--all with --rpc needs --chain: one URL serves one chain")
        chains = [c for name, c in sorted(registry().chains.items()) if environ.get(c.rpc_env, "").strip()]
        if not chains:
            variables = ", ".join(c.rpc_env for _, c in sorted(registry().chains.items()))
            raise UserInputError(f"--all found no chain to pull: set one of {variables} or pass --chain and --rpc")
    return Schedule(plans=tuple(
        PullPlan(chain=c.name, protocol=protocol, rpc_env=c.rpc_env, **options)
        for c in chains for protocol in sorted({d.protocol for d in registry().deployments if d.chain.name == c.name})))


async def run_schedule(pulls: Sequence[tuple[PullPlan, PullRequest]],
                       progress_for: Callable[[PullPlan], AbstractContextManager[ProgressCallback]],
                       notice: Callable[[str], None] | None = None) -> AsyncIterator[PlanOutcome]:
    """Run the pulls one after the other, yielding each outcome as it ends. A failed pull does not
    stop the others; a locked store does (the process holding it is pulling into it). ``notice``: as
    :func:`toolkit.pipeline.pull_async`'s."""
    for plan, request in pulls:
        with progress_for(plan) as progress:
            try:
                result = await pull_async(request, progress, notice)
            except StoreLockedError as exc:
                yield PlanOutcome(plan, "locked", error=str(exc))
                return
            except UserInputError as exc:
                yield PlanOutcome(plan, "invalid", error=str(exc))
                continue
            except PullInterrupted as exc:
                yield PlanOutcome(plan, "partial", error=str(exc))
                continue
            except ToolkitError as exc:
                yield PlanOutcome(plan, "failed", error=str(exc))
                continue
        yield PlanOutcome(plan, result.status, result=result)
