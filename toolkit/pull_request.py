"""What a pull is asked and what it reports: :class:`PullRequest` (validated options), the results per
deployment and per run, the JSON run report kept in ``runs.report_json``, and the errors that end a pull.

The pull itself is :mod:`toolkit.pipeline` (``pull``/``pull_async``), which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from toolkit.chain.completeness import VERIFY_MODES
from toolkit.chain.rpc import url_problem
from toolkit.errors import ToolkitError, UserInputError
from toolkit.protocols import registry
from toolkit.protocols.enrichment import STATE_MODES
from toolkit.protocols.registry import Deployment
from toolkit.redact import redact_url


class WrongChainError(ToolkitError):
    """The node serves another chain than the deployment's."""


class PullInterrupted(ToolkitError):
    """Some chunks were committed, then the pull stopped; the next pull resumes."""

    exit_code = 4


class ChainUnstable(ToolkitError):
    """The chain kept being reorganized while it was read."""


@dataclass(frozen=True)
class PullRequest:
    """What to pull. Block numbers are inclusive as typed by users; ``to`` is a tag or a number."""

    chain: str
    protocol: str
    rpc_url: str
    store_path: Path
    from_block: int | None = None
    since: datetime | None = None
    to: str | int = "finalized"
    confirmations: int = 0
    no_state: bool = False
    #: Where state is read: ``before-tx`` (exact, the default), ``block`` (block start) or ``none``
    #: (:mod:`toolkit.protocols.enrichment`); ``no_state`` means ``none``.
    state: str = "before-tx"
    address: str | None = None
    deployment: str | None = None
    #: Most blocks per ``eth_getLogs`` request (and per committed chunk); None lets the reader adapt.
    blocks_per_request: int | None = None
    #: Seconds one HTTP request to the node may take (a slower answer is retried).
    rpc_timeout: float = 30.0
    #: Seconds to wait for another pull holding the store's write lock (0: fail at once, exit 5).
    lock_wait: float = 0.0
    #: How each ``eth_getLogs`` answer is proven complete before it is stored (:mod:`toolkit.chain.completeness`):
    #: ``bloom`` (result caps and block blooms), ``receipts`` (and receipts), ``none`` (the node is trusted).
    verify: str = "bloom"

    def redacted_args(self) -> dict[str, Any]:
        """The request as JSON-ready values with the RPC URL redacted (recorded in ``runs.args_json``)."""
        args = asdict(self)
        args["rpc_url"] = redact_url(self.rpc_url)
        args["store_path"] = str(self.store_path)
        args["since"] = self.since.isoformat() if self.since else None
        return args

    def validate(self) -> None:
        """Raise :class:`UserInputError` for values no pull accepts."""
        if self.from_block is not None and self.from_block < 0:
            raise UserInputError("--from-block must be a block number >= 0")
        if self.from_block is not None and self.since is not None:
            raise UserInputError("pass either --from-block or --since, not both")
        if self.confirmations < 0:
            raise UserInputError("--confirmations must be >= 0")
        if self.blocks_per_request is not None and self.blocks_per_request < 1:
            raise UserInputError("--blocks-per-request must be >= 1")
        if not self.rpc_timeout > 0:
            raise UserInputError("--rpc-timeout must be a number of seconds > 0")
        if self.lock_wait < 0:
            raise UserInputError("--wait must be a number of seconds >= 0")
        if self.state not in STATE_MODES:
            raise UserInputError(f"--state must be one of {', '.join(STATE_MODES)}, not {self.state!r}")
        problem = url_problem(self.rpc_url)
        if problem is not None:
            raise UserInputError(f"the RPC URL {redact_url(self.rpc_url)} is not usable: {problem}; pass "
                                 f"--rpc http(s)://host[:port]/... or set {registry().chain(self.chain).rpc_env}")
        if self.verify not in VERIFY_MODES:
            raise UserInputError(f"--verify must be one of {', '.join(VERIFY_MODES)}, not {self.verify!r}")

    @property
    def state_mode(self) -> str:
        """``before-tx``, ``block`` or ``none`` (``--no-state``)."""
        return "none" if self.no_state else self.state


@dataclass
class DeploymentResult:
    """What one pull did for one deployment: the blocks it read (inclusive), rows, chunks, repairs."""

    protocol: str
    deployment: str
    from_block: int | None = None
    to_block: int | None = None
    rows_added: int = 0
    chunks: int = 0
    #: One dict per repaired reorganization: ``detected_at``, ``reason``, ``rewound_to``, ``rows_deleted``.
    reorgs: list[dict[str, Any]] = field(default_factory=list)
    #: Rows committed per ``state_position`` and per ``state_check`` (empty without state reads).
    state_positions: dict[str, int] = field(default_factory=dict)
    state_checks: dict[str, int] = field(default_factory=dict)
    #: Logs of discovered markets the adapter does not decode: ``emitter``, ``tx_hash``, ``log_index``, ``error``.
    undecoded: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows_deleted(self) -> int:
        return sum(r["rows_deleted"] for r in self.reorgs)


@dataclass
class PullResult:
    """Outcome of one pull: ``status`` is ``ok`` (the store changed), ``nothing_new`` or ``partial``."""

    run_id: str
    status: str
    chain_id: int
    to_block: int
    deployments: list[DeploymentResult] = field(default_factory=list)
    #: The run report stored in ``runs.report_json`` (see :func:`run_report`).
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_added(self) -> int:
        return sum(d.rows_added for d in self.deployments)


#: ``progress(blocks_done, blocks_total, rows_added)`` after every committed chunk.
ProgressCallback = Callable[[int, int, int], None]


def resolve_deployments(request: PullRequest) -> list[Deployment]:
    """Registry entries named by the request (``--address`` makes a custom one); templates are expanded
    with their markets by :func:`toolkit.protocols.discovery.discover` at the pull's bound."""
    return registry().requested(request.chain, request.protocol, request.deployment, request.address)


def run_report(request: PullRequest, *, status: str, started_at: datetime, seconds: float, to_block: int,
               deployments: list[DeploymentResult], rpc: dict[str, Any], error: str | None,
               notices: list[str] | None = None,
               discovery: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON run report kept in ``runs.report_json`` and shown by ``liqtk status``: when the run
    started and finished, the bound, the blocks read and rows added per deployment, the reorganizations
    repaired, the logs of discovered markets set aside because they do not decode (``undecoded``), the
    markets the registries listed (``discovery``), the requests, retries and faults met
    (:class:`~toolkit.chain.rpc.RpcStats`), and the error that ended it. Nothing in it holds the RPC URL."""
    return {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "status": status,
        "chain": request.chain,
        "protocol": request.protocol,
        "bound": {"to": request.to, "confirmations": request.confirmations, "to_block": to_block},
        "verify": request.verify,
        "rows_added": sum(d.rows_added for d in deployments),
        "deployments": [{**asdict(d), "rows_deleted": d.rows_deleted} for d in deployments],
        "undecoded": sum(len(d.undecoded) for d in deployments),
        "discovery": discovery or [],
        "rpc": rpc,
        "state": {"mode": request.state_mode, "notices": list(notices or [])},
        "errors": [error] if error else [],
    }
