"""A Gymnasium environment over a stepped scenario (``pip install flexcosim[gym]``).

>>> from flexcosim.cosim.gym import ChargingEnv, EnvConfig
>>> env = ChargingEnv(EnvConfig("lv-feeder-20bus", overrides=("duration_s=43200",)))
>>> obs, info = env.reset(seed=3)
>>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

One episode is one run of the scenario, one environment step one simulation step
(``step_s``), driven through :class:`flexcosim.cosim.session.Session`.

Action, one number per charging site
    ``action="site_limits"``: in [0, 1], the share of the site's chargers' total rating
    the site may draw in the next step (injected as a
    :class:`~flexcosim.cosim.session.CapacityLimit`). The site's strategy shares it out
    among its EVs, so the default ``site_strategy`` is ``equal_share``, which respects
    a limit (``uncontrolled`` ignores it).
    ``action="allocation"`` (scenarios with visitors and a DSO platform): in [0, 1], a
    score per site the platform routes to; every request in the next step goes to the
    offering site with the highest score (:class:`ScoredAllocation` replaces the
    platform's allocation strategy; no site offering, the platform's fallback decides).
    ``action="site_setpoints"``: in [-1, 1], the site's power at the meter as a share of
    the chargers' total rating; the env's :class:`SetpointFollower` replaces the sites'
    strategies and shares it out: charging as ``equal_share`` under that cap, a
    negative set-point (V2G sites only, else 0) discharged by every EV in proportion to
    its discharge limit. The chargers clip to EV and SOC limits, so the site may draw
    less than the set-point.
Observation (``observation`` picks and orders the groups; ``feature_names`` names each entry)
    ``sites``: per site the last step's meter power / chargers' rating, plugged EVs /
    chargers, waiting EVs / chargers, energy the plugged EVs still need / (rating x 1 h);
    ``time``: sin and cos of the clock time of day, share of the episode done;
    ``prices``: per site the tariff's import price for the next ``forecast_steps``
    steps [currency/kWh] (0 without a tariff);
    ``headroom``: per site the forecast transformer headroom for EVs (rating minus
    building load) for the next ``forecast_steps`` steps / chargers' rating (sites
    behind no transformer: 1, the chargers bind);
    ``grid``: lowest bus voltage [p.u.] and highest transformer loading / 100 of the last
    power flow (1.0 and 0.0 before the first).
Reward, for the step just simulated (``RewardWeights``)
    ``-(w_cost * cost + w_unmet * unmet_kwh + w_overload * overload_pct_h
    + w_voltage * undervoltage_pu_h)``: energy cost of the site meters under their
    tariffs [currency], energy short of target of EVs that left a site in the step
    [kWh] (at the episode's end also of those still parked), transformer loading above
    100 % [% h], voltage below 0.9 p.u. [p.u. h] summed over buses.

``reset(seed=...)`` builds the scenario's models once per seed and copies them for each
episode (a new mosaik World is started from the copy, since a World runs only once):
about 0.3 s for ``lv-feeder-20bus`` against ~1.2 s for opening it anew. The seed is the
scenario's ``seed``, so an episode with the same seed and actions is the same episode.
"""

from __future__ import annotations

import copy
import math
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

try:
    import gymnasium as gym
    from gymnasium import spaces
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("flexcosim.cosim.gym needs gymnasium: pip install 'flexcosim[gym]'") from exc

from flexcosim.agents.site import EqualShare, SiteObservation, SiteSetpoints
from flexcosim.cosim.session import CapacityLimit, Session
from flexcosim.cosim.world import Assembly, assemble
from flexcosim.scenarios.catalog import load_scenario
from flexcosim.scenarios.schema import parse_scenario

GROUPS = ("sites", "time", "prices", "headroom", "grid")
ACTIONS = ("site_limits", "site_setpoints", "allocation")
#: Upper bound of observation entries that have no natural one (a finite box suits RL libraries).
UNBOUNDED = 1e3


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the reward's terms (see the module docstring); units make them comparable."""

    cost: float = 1.0  # per currency unit
    unmet_kwh: float = 10.0  # per kWh short of target: serving drivers comes first
    overload_pct_h: float = 0.01  # per % h of transformer loading above 100 %
    undervoltage_pu_h: float = 100.0  # per p.u. h below 0.9 p.u.


@dataclass(frozen=True)
class EnvConfig:
    """What the environment simulates, observes, acts on and rewards.

    Attributes
    ----------
    scenario : shipped scenario name or YAML file
    overrides : ``path=value`` changes of the scenario, as ``flexcosim run --set``
    site_strategy : replaces the strategy of every site aggregator (``None`` keeps the
        scenario's); it shares out the limit the action sets
    observation : observation groups, in order (subset of ``sites``, ``time``,
        ``prices``, ``headroom``, ``grid``)
    forecast_steps : steps of price forecast per site in the ``prices`` group
    action : what the action sets: ``site_limits``, ``site_setpoints`` or ``allocation``
        (module docstring)
    reward : weights of the reward's terms
    """

    scenario: str = "lv-feeder-20bus"
    overrides: tuple[str, ...] = ()
    site_strategy: str | None = "equal_share"
    observation: tuple[str, ...] = GROUPS
    forecast_steps: int = 4
    action: Literal["site_limits", "site_setpoints", "allocation"] = "site_limits"
    reward: RewardWeights = field(default_factory=RewardWeights)


class SetpointFollower:
    """A site strategy that meets a set-point at the meter [kW] (the ``site_setpoints`` action).

    Charging (``setpoint_kw >= 0``): ``equal_share`` with the set-point as the site's
    capacity (never above the capacity the site observes). Discharging (V2G sites):
    every EV gives ``|setpoint| * d_i / sum_j d_j``, ``d_i`` its grid-side discharge limit
    ``min(charger rating, max discharge * efficiency)`` [kW], at most ``d_i``.
    """

    def __init__(self) -> None:
        self.setpoint_kw = 0.0

    def decide(self, obs: SiteObservation) -> SiteSetpoints:
        if self.setpoint_kw >= 0 or not obs.v2g:
            cap = min(obs.capacity_kw, max(self.setpoint_kw, 0.0))
            return EqualShare().decide(replace(obs, capacity_kw=cap))
        limit = {ev.ev: min(obs.charger_kw, ev.max_discharge_kw * obs.efficiency) for ev in obs.evs}
        total = sum(limit.values())
        if total <= 0:
            return SiteSetpoints({ev.ev: 0.0 for ev in obs.evs})
        scale = min(1.0, -self.setpoint_kw / total)
        return SiteSetpoints({ev: -kw * scale for ev, kw in limit.items()})


class ScoredAllocation:
    """The platform's allocation for the ``allocation`` action: the offering site with the
    highest score (ties: the first offer), no reference schedule."""

    def __init__(self) -> None:
        self.scores: dict[str, float] = {}

    def choose(self, request, offers, step_s):
        best = max(offers, key=lambda offer: self.scores.get(offer.site, 0.0))
        return best.site, np.zeros(0), ""


class ChargingEnv(gym.Env):
    """Gymnasium environment: limit each charging site's draw, step by step (module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, config: EnvConfig | None = None) -> None:
        self.config = config or EnvConfig()
        unknown = [g for g in self.config.observation if g not in GROUPS]
        if unknown or not self.config.observation:
            raise ValueError(f"EnvConfig.observation = {self.config.observation!r}; allowed: "
                             f"a non-empty subset of {GROUPS}")
        if self.config.action not in ACTIONS:
            raise ValueError(f"EnvConfig.action = {self.config.action!r}; allowed: {', '.join(ACTIONS)}")
        scenario, self._base_dir = load_scenario(self.config.scenario, self.config.overrides)
        data = scenario.model_dump(mode="json")
        if self.config.site_strategy is not None:
            for agent in data["agents"]:
                if agent["role"] == "site_aggregator":
                    agent["strategy"] = self.config.site_strategy
        self._data = data
        self.scenario = parse_scenario(data)
        self._pristine: dict[int, Assembly] = {}
        first = self._assembly(self.scenario.seed)
        self.sites = list(first.sites)
        if not self.sites:
            raise ValueError(f"scenario {self.scenario.name!r} has no charging sites to act on")
        self._rating_kw = np.array([sum(c.rated_kw for c in first.sites[s][1].chargers) for s in self.sites])
        self._chargers = np.array([len(first.sites[s][1].chargers) for s in self.sites])
        self.feature_names = self._feature_names()
        low, high = self._bounds()
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.targets = self.sites  # what one action entry is for
        if self.config.action == "allocation":
            if first.platform is None:
                raise ValueError(f"EnvConfig.action = 'allocation': scenario {self.scenario.name!r} "
                                 "has no DSO platform (no visitors)")
            self.targets = list(first.platform.sites)
        low = -1.0 if self.config.action == "site_setpoints" else 0.0
        self.action_space = spaces.Box(low, 1.0, (len(self.targets),), dtype=np.float32)
        self._followers: dict[str, SetpointFollower] = {}
        self._allocation = ScoredAllocation()
        self._folder = Path(tempfile.mkdtemp(prefix="flexcosim-gym-"))
        self.session: Session | None = None

    # --- building -----------------------------------------------------------------------

    def _assembly(self, seed: int) -> Assembly:
        """A fresh copy of the scenario's models for ``seed``, built once per seed."""
        if seed not in self._pristine:
            scenario = self.scenario if seed == self.scenario.seed else parse_scenario({**self._data, "seed": seed})
            self._pristine[seed] = assemble(scenario, self._base_dir)
        return copy.deepcopy(self._pristine[seed])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode; ``seed`` is the scenario's seed (drawn from the env's RNG if ``None``)."""
        super().reset(seed=seed)
        episode_seed = seed if seed is not None else int(self.np_random.integers(2**31 - 1))
        self._close_session()
        shutil.rmtree(self._folder / "episode", ignore_errors=True)
        assembly = self._assembly(episode_seed)
        if self.config.action == "site_setpoints":
            self._followers = {}
            for agent in assembly.agents.values():
                agent.guarded.strategy = self._followers.setdefault(agent.site, SetpointFollower())
        elif self.config.action == "allocation":
            self._allocation = ScoredAllocation()
            assembly.platform.allocation = self._allocation
        self.session = Session(assembly, self._folder / "episode")
        self._parked = self._parked_energy()
        return self._observe(), {"seed": episode_seed}

    def step(self, action):
        if self.session is None or self.session.finished:
            raise RuntimeError("call reset() before step() (the episode has ended)")
        share = np.asarray(action, dtype=float).reshape(-1)
        if share.shape != (len(self.targets),):
            raise ValueError(f"action shape {share.shape}; need ({len(self.targets)},), one per site "
                             f"of {self.targets}")
        share = np.clip(share, self.action_space.low, 1.0)
        if self.config.action == "allocation":
            self._allocation.scores = dict(zip(self.targets, share.tolist()))
        for site, s, rating in zip(self.sites, share, self._rating_kw):
            if self.config.action == "site_limits":
                self.session.inject(CapacityLimit(site, float(s * rating)))
            elif self.config.action == "site_setpoints":
                self._followers[site].setpoint_kw = float(s * rating)
        k = self.session.time_s // self.scenario.step_s
        self.session.advance(1)
        terms = self._terms(k)
        w = self.config.reward
        reward = -(w.cost * terms["cost"] + w.unmet_kwh * terms["unmet_kwh"]
                   + w.overload_pct_h * terms["overload_pct_h"]
                   + w.undervoltage_pu_h * terms["undervoltage_pu_h"])
        return self._observe(), float(reward), self.session.finished, False, terms

    def close(self) -> None:
        self._close_session()
        shutil.rmtree(self._folder, ignore_errors=True)

    def _close_session(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    # --- reward -------------------------------------------------------------------------

    def _parked_energy(self) -> dict[str, float]:
        evs = self.session.evs()
        parked = evs[evs.site.notna()]
        return dict(zip(parked.index, parked.energy_kwh))

    def _terms(self, k: int) -> dict[str, float]:
        """The reward's terms for step ``k`` that has just been simulated."""
        s, assembly = self.session, self.session.assembly
        h = self.scenario.step_s / 3600.0
        sites = s.sites()
        cost = 0.0
        for site in self.sites:
            tariff = assembly.plants[site].tariff
            if tariff is not None:
                load = float(sites.at[site, "load_kw"])
                price = tariff.import_per_kwh[k] if load >= 0 else tariff.export_per_kwh[k]
                cost += load * h * price
        targets = assembly.targets_kwh
        parked = self._parked_energy()
        evs = s.evs()
        left = [ev for ev in self._parked if ev not in parked]
        # an EV that left in this step has not driven yet: its energy now is its energy at departure
        unmet = sum(max(0.0, targets[ev] - float(evs.at[ev, "energy_kwh"])) for ev in left)
        if s.finished:  # the horizon: what the EVs still parked miss
            unmet += sum(max(0.0, targets[ev] - e) for ev, e in parked.items())
        self._parked = parked
        grid = s.grid()
        loading = grid.loading_pct[grid.kind == "transformer"].to_numpy(dtype=float)
        vm = grid.vm_pu[grid.kind == "bus"].to_numpy(dtype=float)
        return {"cost": cost, "unmet_kwh": unmet,
                "overload_pct_h": float(np.clip(loading - 100.0, 0, None).sum() * h),
                "undervoltage_pu_h": float(np.clip(0.9 - vm, 0, None).sum() * h)}

    # --- observation --------------------------------------------------------------------

    def _feature_names(self) -> list[str]:
        names = []
        for group in self.config.observation:
            if group == "sites":
                names += [f"{site}.{q}" for site in self.sites
                          for q in ("power_share", "plugged_share", "waiting_share", "needed_h")]
            elif group == "time":
                names += ["time.sin_day", "time.cos_day", "time.episode_done"]
            elif group in ("prices", "headroom"):
                what = "price" if group == "prices" else "headroom"
                names += [f"{site}.{what}_{j}" for site in self.sites for j in range(self.config.forecast_steps)]
            else:
                names += ["grid.min_vm_pu", "grid.max_transformer_loading"]
        return names

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        bounds = []
        for name in self.feature_names:
            if name in ("time.sin_day", "time.cos_day"):
                bounds.append((-1.0, 1.0))
            elif name == "time.episode_done":
                bounds.append((0.0, 1.0))
            elif name.endswith("power_share"):
                bounds.append((-1.0, 1.0))  # V2G sites discharge
            else:  # shares of chargers or rating, prices, voltage, loading: far below this
                bounds.append((0.0, UNBOUNDED))
        low, high = np.array(bounds, dtype=np.float32).T
        return low, high

    def _observe(self) -> np.ndarray:
        s = self.session
        parts: list[float] = []
        for group in self.config.observation:
            if group == "sites":
                parts += self._site_features()
            elif group == "time":
                start = self.scenario.start
                of_day = start.hour * 3600 + start.minute * 60 + start.second
                clock = (s.time_s + of_day) / 86400.0 * 2 * math.pi
                parts += [math.sin(clock), math.cos(clock), s.time_s / self.scenario.duration_s]
            elif group == "prices":
                parts += self._prices()
            elif group == "headroom":
                parts += self._headroom()
            else:
                grid = s.grid()
                vm = grid.vm_pu[grid.kind == "bus"]
                loading = grid.loading_pct[grid.kind == "transformer"]
                parts += [float(vm.min()) if len(vm) else 1.0,
                          float(loading.max()) / 100.0 if len(loading) else 0.0]
        return np.asarray(parts, dtype=np.float32)

    def _site_features(self) -> list[float]:
        s = self.session
        sites = s.sites()
        evs = s.evs()
        targets = s.assembly.targets_kwh
        on = evs[evs.charger.notna()]
        needed = {site: 0.0 for site in self.sites}
        for ev, row in on.iterrows():
            needed[row.site] += max(0.0, targets[ev] - row.energy_kwh)
        waiting = evs[evs.site.notna() & evs.charger.isna()].site.value_counts()
        out = []
        for site, rating, chargers in zip(self.sites, self._rating_kw, self._chargers):
            out += [float(sites.at[site, "load_kw"]) / rating, float(sites.at[site, "connected"]) / chargers,
                    float(waiting.get(site, 0)) / chargers, needed[site] / rating]
        return out

    def _ahead(self, series: np.ndarray) -> list[float]:
        """The next ``forecast_steps`` values of a per-step series from now (the last repeated)."""
        k = min(self.session.time_s // self.scenario.step_s, len(series) - 1)
        ahead = series[k:k + self.config.forecast_steps]
        return np.pad(ahead, (0, self.config.forecast_steps - len(ahead)), mode="edge").tolist()

    def _prices(self) -> list[float]:
        out = []
        for site in self.sites:
            tariff = self.session.assembly.plants[site].tariff
            out += self._ahead(tariff.import_per_kwh) if tariff is not None else [0.0] * self.config.forecast_steps
        return out

    def _headroom(self) -> list[float]:
        out = []
        for site, rating in zip(self.sites, self._rating_kw):
            book = self.session.assembly.books.get(site)
            if book is None:
                out += [1.0] * self.config.forecast_steps
                continue
            capacity = book.capacity_kw(0, self.scenario.duration_s // self.scenario.step_s)
            out += np.minimum(np.asarray(self._ahead(capacity)) / rating, UNBOUNDED).tolist()
        return out
