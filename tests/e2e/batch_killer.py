"""`sweepq` whose batch runner SIGKILLs its own process at one named moment of a round.

The kill tests' process (tests/e2e/test_batch_kill.py): a test-only subclass of
`BatchRunner` overrides `checkpoint`, the product's no-op at each moment a kill must lose
nothing and pay nothing twice, and lowers `ingest_chunk` so a kill can land between two
transactions of results. Usage: `python batch_killer.py MOMENT[:N] CHUNK SWEEPQ-ARGS...`
(the N-th time MOMENT is reached; N defaults to 1).
"""

from __future__ import annotations

import os
import signal
import sys

from sweepq import batch
from sweepq.cli import main


class KillingRunner(batch.BatchRunner):
    """Kills the process the N-th time the round reaches `moment`."""

    moment, nth, reached = "", 1, 0

    def checkpoint(self, name: str) -> None:
        if name != self.moment:
            return
        KillingRunner.reached += 1
        if KillingRunner.reached >= self.nth:
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    moment, _, nth = sys.argv[1].partition(":")
    KillingRunner.moment, KillingRunner.nth = moment, int(nth or 1)
    KillingRunner.ingest_chunk = int(sys.argv[2])
    batch.BatchRunner = KillingRunner  # type: ignore[misc]  # what `work` builds
    main(sys.argv[3:], prog_name="sweepq")
