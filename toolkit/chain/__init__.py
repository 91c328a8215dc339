"""JSON-RPC access for the whole toolkit: node -> ``toolkit.chain`` -> protocols -> store.

* :mod:`~toolkit.chain.errors` -- classify provider answers (docs/sources/chain.md#provider-error-messages);
* :mod:`~toolkit.chain.rpc` -- :class:`~toolkit.chain.rpc.RpcClient`: retries, backoff, batches, stats;
* :mod:`~toolkit.chain.logs` -- :class:`~toolkit.chain.logs.LogReader`: adaptive, ordered ``eth_getLogs``;
* :mod:`~toolkit.chain.logtable` -- ``eth_getLogs`` answers read straight into Arrow columns;
* :mod:`~toolkit.chain.blocks` -- :class:`~toolkit.chain.blocks.BlockHeaders`: headers and read bounds;
* :mod:`~toolkit.chain.calls` -- :class:`~toolkit.chain.calls.StateReader`: batched, cached ``eth_call``;
* :mod:`~toolkit.chain.programs` -- reader programs cut to size, patches applied in Python (no I/O).
"""
