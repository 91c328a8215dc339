"""A notebook polling the store while a scheduled pull writes it, as a separate process.

``python notebook_reader.py STORE`` reads ``toolkit.liquidations(STORE)`` in a loop and prints one JSON
line per read -- ``{"rows": [[block_number, tx_hash, log_index], ...]}`` in the order read, or
``{"error": "..."}`` -- until its standard input is closed.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import toolkit


def main(store: str) -> None:
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    while not stop.is_set():
        try:
            frame = toolkit.liquidations(store)
            record = {"rows": [[int(b), t, int(i)] for b, t, i in zip(frame.block_number, frame.tx_hash,
                                                                        frame.log_index, strict=True)]}
        except Exception as exc:  # reported to the test, which fails on any
            record = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(record), flush=True)
        time.sleep(0.01)


if __name__ == "__main__":
    main(sys.argv[1])
