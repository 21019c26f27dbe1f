"""Who pays what for shared capacity (seed 004 section 4.2.1.4).

The seed asks that the consumer ``c_2`` compensate the provider ``c_1`` with an amount
that (1) covers the provider's loss from giving capacity up and (2) leaves the consumer
better off, and that the DSO be paid for its service. The default rule here:

* the provider prices an offer at its *re-plan cost* ``L``: the rise of its own cost
  (BTM EMS schedule cost plus valued unmet energy) when its import limit falls by the
  offered amount (:func:`flexcosim.agents.sharing.unit.replan_cost`);
* the consumer computes its gain ``G``, the fall of its own cost when its limit rises
  by the same amount, and accepts iff ``G > C + F``, where ``F`` is the DSO's service fee
  per validated agreement and the compensation is ``C = max(L, 0) + share (G - max(L, 0) - F)``.

With ``share = 0`` (default) the provider is made exactly whole and the consumer keeps the
whole net gain; ``0 < share < 1`` splits the net gain, so both are strictly better off.
No unit is worse off under either: the provider receives ``C >= L`` and the consumer
pays ``C + F < G``. Payments balance: the consumer pays ``C + F``, the provider receives
``C`` and the DSO ``F``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class CompensationRule:
    """The consumer's acceptance test and the compensation it pays.

    Attributes
    ----------
    share : part of the net gain ``G - max(L, 0) - F`` that goes to the provider, in [0, 1)
    min_net_gain : the consumer accepts only if its net gain exceeds this [currency]
        (keeps solver-tolerance gains from buying capacity)
    """

    share: float = 0.0
    min_net_gain: float = 1e-6

    def __post_init__(self) -> None:
        if not 0.0 <= self.share < 1.0:
            raise ValueError(f"share = {self.share!r}; allowed: 0 <= share < 1")
        if not self.min_net_gain >= 0.0:
            raise ValueError(f"min_net_gain = {self.min_net_gain!r}; allowed: >= 0 [currency]")

    def compensation(self, loss: float, gain: float, service_fee: float) -> float | None:
        """What the consumer pays the provider [currency], or ``None`` if it should decline.

        Parameters
        ----------
        loss : the provider's re-plan cost ``L`` for the offered capacity [currency]
        gain : the consumer's cost fall ``G`` for the same capacity [currency]; ``inf``
            when the consumer has no schedule at all without it
        service_fee : the DSO's fee ``F`` per validated agreement [currency]
        """
        floor = max(loss, 0.0)
        if not math.isfinite(floor) or math.isnan(gain):
            return None
        net = gain - floor - service_fee
        if not net > self.min_net_gain:
            return None
        if not math.isfinite(net):
            return floor  # no finite gain to split; the provider is made whole
        return floor + self.share * net
