"""Dynamic capacity sharing between behind-the-meter units (seed 004 section 4.2.1).

Roles as plain state machines that take one typed message in and return typed
messages out (:mod:`.messages`): the FTM coordinator with the DSO validation
(:mod:`.coordinator`, :mod:`.grid_check`), one energy aggregator per unit
(:mod:`.aggregator`), the unit's forecast and re-plan cost (:mod:`.unit`), the
compensation rule (:mod:`.incentives`) and the hash-chained agreement record
(:mod:`.record`). :mod:`.local` delivers messages in process for tests; in a
co-simulation the roles of :mod:`.roles` carry them over the simulated network, and
:mod:`.plant` schedules each unit with the BTM EMS.
"""
