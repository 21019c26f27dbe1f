"""The mosaik Progress workaround (cosim.mosaik_progress) drops cancelled waits and nothing else."""

import asyncio

from mosaik.progress import Progress
from mosaik.tiered_time import TieredTime

from flexcosim.cosim import mosaik_progress


def test_set_drops_cancelled_waits_and_still_wakes_the_others():
    async def main():
        mosaik_progress.drop_cancelled_waits()
        progress = Progress(TieredTime(0))
        cancelled = asyncio.ensure_future(progress.has_reached(TieredTime(100)))
        woken = asyncio.ensure_future(progress.has_reached(TieredTime(10)))
        later = asyncio.ensure_future(progress.has_reached(TieredTime(50)))
        await asyncio.sleep(0)  # the three waits are registered
        cancelled.cancel()
        await asyncio.sleep(0)
        assert len(progress._futures) == 3
        progress.set(TieredTime(10))
        await asyncio.sleep(0)
        assert woken.done() and woken.result() == TieredTime(10) and not later.done()
        assert len(progress._futures) == 1  # only the wait for 50 is left
        later.cancel()

    asyncio.run(main())
