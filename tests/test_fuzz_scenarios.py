"""Fuzz campaign (issue 9): mutated shipped scenarios through ``flexcosim run``.

A seeded generator (:func:`cases`) takes each shipped scenario, cut to a short run
(:func:`base_scenarios`), and applies one to three mutations from :data:`MUTATIONS`
(drop or misspell a field, nonsense numbers, order-of-magnitude slips, unsafe and
duplicate names, code targets as strategies and fallbacks, bad dates, Markov knobs and
grid parameters, hostile files: non-UTF-8, alias bombs, deep nesting, junk). Every case
must end in one of two ways:

* exit 2 with one line on stderr and no traceback, or
* exit 0 with every run folder it wrote complete and passing :func:`check_run`;

and never in a traceback, a hang (:data:`TIMEOUT_S`), a folder written outside the
case's own folder (a planted ``victim`` folder must survive), or, for the mutations
marked as nonsense, a run (a *silent accept*).

The cases run in one worker process (so a memory bomb or a hang cannot take the test
runner with it; the worker has a memory limit and is restarted after a hang).

Run the campaign: ``python3 -m pytest -m slow tests/test_fuzz_scenarios.py`` (a few
hundred cases); the default run takes a fixed sample of :data:`FAST_CASES`. A seed is
reproduced with ``FLEXCOSIM_FUZZ_SEED=<n>``.
"""

from __future__ import annotations

import copy
import json
import os
import queue
import random
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SEED = int(os.environ.get("FLEXCOSIM_FUZZ_SEED", "9"))
FAST_CASES = 20
SLOW_CASES = 300
TIMEOUT_S = 120
MEMORY_LIMIT_BYTES = 6 * 2**30


# --- the generator ------------------------------------------------------------------------


def base_scenarios() -> dict[str, dict]:
    """Every shipped scenario as data, cut to a short run (an hour or two, few EVs, one replication)."""
    from flexcosim.scenarios.catalog import shipped

    out = {}
    for name, path in shipped().items():
        data = yaml.safe_load(path.read_text())
        data["duration_s"] = 3600 if name.startswith("lv") else 7200
        # the case runs from its own folder: a session file beside the shipped scenario is
        # named by its full path, and the cut is the whole hours of the shortest session,
        # with its group only, else every case of that scenario would be refused for the
        # cut (a group with no session in the period), whatever its mutation
        for group in data.get("sessions", []):
            group["path"] = str(path.parent / group["path"])
        if data.get("sessions"):
            stays = [pd.read_csv(g["path"], parse_dates=["arrival", "departure"]) for g in data["sessions"]]
            shortest = [(st.departure - st.arrival).min() for st in stays]
            g = shortest.index(min(shortest))
            stay = stays[g].iloc[(stays[g].departure - stays[g].arrival).argmin()]
            start, end = stay.arrival.floor("h"), stay.departure.ceil("h")
            data["sessions"] = [data["sessions"][g]]
            data["start"], data["duration_s"] = start.isoformat(), int((end - start).total_seconds())
        for group in data.get("visitors", []):
            group["count"] = 20
        for site in data.get("sites", []):
            site["chargers"] = min(site["chargers"], 8)
        if "sweep" in data:  # one day, one level of every other axis
            for axis in data["sweep"].get("axes", []):
                if "days" in axis:
                    axis["days"]["months"] = [4]
                if "levels" in axis:
                    axis["levels"] = dict(list(axis["levels"].items())[:1])
                if "range" in axis:
                    axis["values"] = [axis.pop("range")["start"]]
            data["sweep"]["replications"] = 1
            if any("days" in axis for axis in data["sweep"].get("axes", [])):
                data["sweep"]["report"]["profile_levels"] = ["2019-04-01"]
        out[name] = data
    return out


@dataclass
class Case:
    """One mutated scenario: the file's text (or bytes) and whether it must be refused."""

    ident: str
    text: str | bytes
    must_refuse: bool
    what: list[str]
    use_out: bool = True


Mutation = Callable[[random.Random, dict], tuple[str, bool]]

#: Keys of mappings whose keys are user names, not schema fields.
FREE_FORM = {"variants", "knobs", "params", "routes", "levels", "set", "scale"}


def _nodes(data: object, path: tuple = ()) -> list[tuple[tuple, object]]:
    out = [(path, data)]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _nodes(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _nodes(v, (*path, i))
    return out


def _parent(data: dict, path: tuple):
    node = data
    for p in path[:-1]:
        node = node[p]
    return node


def _pick(rng: random.Random, data: dict, test) -> tuple | None:
    found = [path for path, node in _nodes(data) if path and test(path, node)]
    return rng.choice(found) if found else None


def drop_field(rng, data):
    path = _pick(rng, data, lambda p, n: isinstance(p[-1], str))
    if path is None:
        return "drop: nothing", False
    del _parent(data, path)[path[-1]]
    return f"drop {'.'.join(map(str, path))}", False


def misspell_field(rng, data):
    path = _pick(rng, data, lambda p, n: isinstance(p[-1], str) and not set(p) & FREE_FORM)
    if path is None:
        return "misspell: nothing", False
    parent = _parent(data, path)
    key = path[-1]
    typo = key[:-1] if len(key) > 1 and rng.random() < 0.5 else key + "x"
    if typo in parent:
        return "misspell: collides", False
    parent[typo] = parent.pop(key)
    return f"misspell {key} -> {typo}", True


NONSENSE = [float("inf"), float("-inf"), float("nan"), "abc", [], {}]
ODD = [-1, 0, 10**12, True, None]


def bad_number(rng, data):
    path = _pick(rng, data, lambda p, n: isinstance(n, (int, float)) and not isinstance(n, bool))
    if path is None:
        return "number: nothing", False
    nonsense = rng.random() < 0.6
    value = rng.choice(NONSENSE if nonsense else ODD)
    _parent(data, path)[path[-1]] = value
    return f"{'.'.join(map(str, path))} = {value!r}", nonsense


PLAUSIBLE = {"rated_kw", "capacity_kwh", "max_charge_kw", "step_s"}


def magnitude_slip(rng, data):
    """x 1000 on a positive number; not on ``duration_s`` (a 40-day study is long, not nonsense)."""
    path = _pick(rng, data, lambda p, n: isinstance(n, (int, float)) and not isinstance(n, bool)
                 and n > 0 and p[-1] != "duration_s")
    if path is None:
        return "slip: nothing", False
    parent = _parent(data, path)
    parent[path[-1]] = parent[path[-1]] * 1000
    key = path[-1]
    must = key in PLAUSIBLE or (key == "peak_kw" and "pv" in path)
    return f"{'.'.join(map(str, path))} x 1000", must


UNSAFE = ["../victim", "../../victim", "a/b", "/tmp/x", ".hidden", "", "x" * 300]


def unsafe_name(rng, data):
    targets = [("name",)] + [(g, i, "name") for g in ("buildings", "pv", "sites", "fleet", "visitors")
                             for i in range(len(data.get(g, [])))]
    if data.get("variants"):
        targets.append(("variants",))
    path = rng.choice(targets)
    value = rng.choice(UNSAFE)
    if path == ("variants",):
        first = next(iter(data["variants"]))
        data["variants"][value] = data["variants"].pop(first)
        return f"variant {first} -> {value!r}", True
    _parent(data, path)[path[-1]] = value
    # a scenario name may be <name>/<variant>, as derived names are: a subfolder of runs/
    allowed = path == ("name",) and value == "a/b"
    return f"{'.'.join(map(str, path))} = {value!r}", not allowed


def duplicate(rng, data):
    lists = [g for g in ("buildings", "pv", "sites", "fleet", "visitors", "agents") if data.get(g)]
    if not lists:
        return "duplicate: nothing", False
    group = rng.choice(lists)
    items = data[group]
    if rng.random() < 0.5 and group != "agents" and group != "visitors":
        item = rng.choice(items)
        item["buses"].append(item["buses"][0])
        return f"{group}: bus {item['buses'][0]} twice", True
    item = rng.choice(items)
    items.append(copy.deepcopy(item))
    must = group != "agents" or item.get("role") in ("site_aggregator", "dso_platform", "emsp",
                                                     "its", "dso_grid")
    return f"{group}: {item.get('name', item.get('role'))} twice", must


def strategy(rng, data):
    if not data.get("agents"):
        return "strategy: no agents", False
    agent = rng.choice(data["agents"])
    if not isinstance(agent, dict):
        return "strategy: agent is not a mapping", False
    code = rng.random() < 0.5
    value = rng.choice(["sys:exit", "os:system", "builtins:print", "shutil:rmtree", "json:dumps"]
                       if code else ["optimal", "llf", "equal_share", "no_such_strategy",
                                     "random_share", "css"])
    agent["strategy"] = value
    return f"strategy {agent.get('role')} = {value}", code


def fallback(rng, data):
    if not data.get("agents"):
        return "fallback: no agents", False
    agent = rng.choice(data["agents"])
    if not isinstance(agent, dict):
        return "fallback: agent is not a mapping", False
    value = rng.choice(["optimal", "uncontrolled", "sys:exit", "llf"])
    agent["fallback"] = value
    return f"fallback {agent.get('role')} = {value}", True


def bad_start(rng, data):
    value = rng.choice(["1500-01-01T00:00:00+00:00", "3000-01-01T00:00:00+00:00", "2019-13-45",
                        "yesterday", "2019-01-16T00:00:00", 12345])
    data["start"] = value
    return f"start = {value!r}", True


def knobs(rng, data):
    fleets = [f for f in data.get("fleet", [])]
    if not fleets:
        return "knobs: no fleet", False
    value, must = rng.choice([({"commute_share": 5.0}, True), ({"nope": 1.0}, True),
                              ({"trip_mean_min": -1.0}, True), ({"commute_share": "x"}, True),
                              ({"commute_share": 0.5}, False)])
    rng.choice(fleets)["mobility"]["knobs"] = value
    return f"knobs = {value}", must


def grid_params(rng, data):
    value, must = rng.choice([({"vm_pu": "x"}, True), ({"nope": 1}, True), ({"vm_pu": [1]}, True),
                              ({"vm_pu": 1.02}, False)])
    data["grid"]["params"] = value
    return f"grid.params = {value}", must


def type_swap(rng, data):
    path = _pick(rng, data, lambda p, n: isinstance(n, dict))
    if path is None:
        return "swap: nothing", False
    parent = _parent(data, path)
    parent[path[-1]] = rng.choice([[1, 2], "text", 7])
    return f"{'.'.join(map(str, path))} replaced by a non-mapping", True


def plausible_change(rng, data):
    """A change a user may well make; the run must go through with its invariants."""
    choice = rng.randrange(6)
    if choice == 0:
        data["seed"] = rng.randrange(1000)
        return f"seed = {data['seed']}", False
    if choice == 1:
        data["step_s"] = rng.choice([300, 600, 1800])
        return f"step_s = {data['step_s']}", False
    if choice == 2 and data.get("sites"):
        site = rng.choice(data["sites"])
        site["v2g"] = True
        site["chargers"] = rng.randint(1, 3)
        return f"site {site['name']}: v2g, {site['chargers']} chargers", False
    if choice == 3:
        data["start"] = rng.choice(["2019-06-03T14:00:00+02:00", "2019-10-27T00:00:00+01:00",
                                    "2020-02-29T23:00:00+00:00"])
        return f"start = {data['start']}", False
    if choice == 4 and data.get("pv"):
        data["pv"][0].update(export_limit_kw=rng.choice([0.0, 1.0]), cloudiness=rng.random())
        return "pv export limit and cloudiness", False
    for agent in data.get("agents", []):
        if isinstance(agent, dict) and agent.get("role") == "site_aggregator":
            agent["strategy"] = rng.choice(["uncontrolled", "equal_share"])
    return "site strategies uncontrolled/equal_share", False


MUTATIONS: list[Mutation] = [drop_field, misspell_field, bad_number, magnitude_slip, unsafe_name,
                             duplicate, strategy, fallback, bad_start, knobs, grid_params, type_swap,
                             *[plausible_change] * 6]

BOMB = "\n".join([
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    *(f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")),
])

HOSTILE: list[tuple[str, Callable[[str], str | bytes]]] = [
    ("latin-1 bytes", lambda text: text.encode("utf-8").replace(b"name:", b"n\xe4me:", 1)),
    ("alias bomb", lambda text: BOMB),
    ("deep nesting", lambda text: "a: " + "[" * 5000 + "]" * 5000),
    ("truncated", lambda text: text[: len(text) // 2] + "\n  - {broken: [\n"),
    ("empty", lambda text: ""),
    ("a list", lambda text: "- 1\n- 2\n"),
    ("junk", lambda text: bytes(range(256)) * 4),
    ("huge", lambda text: "description: " + "x" * 2_000_000),
]


def cases(n: int, seed: int = SEED) -> list[Case]:
    """``n`` mutated scenarios drawn with ``seed`` (the same list every time)."""
    rng = random.Random(seed)
    bases = base_scenarios()
    out = []
    for k in range(n):
        name = rng.choice(sorted(bases))
        if rng.random() < 0.08:
            label, make = rng.choice(HOSTILE)
            text = make(yaml.safe_dump(bases[name], sort_keys=False))
            out.append(Case(f"{k}-{name}", text, True, [label]))
            continue
        data = copy.deepcopy(bases[name])
        what, refusals = [], {}
        for mutate in rng.sample(MUTATIONS, rng.choices([1, 2, 3], [6, 3, 1])[0]):
            try:
                label, refuse = mutate(rng, data)
            except (KeyError, TypeError, AttributeError, IndexError, ValueError):
                label, refuse = f"{mutate.__name__}: does not apply after the others", False
            what.append(label)
            # a later change of the same field replaces the earlier one, refusal included
            refusals[label.split(" = ")[0] if " = " in label else label] = refuse
        must = any(refusals.values())
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        out.append(Case(f"{k}-{name}", text, must, what, use_out=rng.random() < 0.8))
    return out


# --- the worker -----------------------------------------------------------------------------


def worker() -> None:
    """Run cases sent as JSON lines on stdin; answer one JSON line per case on stdout."""
    import contextlib
    import io
    import resource
    import traceback

    from flexcosim.cosim.check import check_run
    from flexcosim.cosim.cli import main

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    # replies go to a copy of fd 1; fd 1 itself (where C libraries such as HiGHS print) and
    # sys.stdout are silenced, so the run's own output cannot mix with the replies
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    sys.stdout = io.StringIO()
    for line in sys.stdin:
        job = json.loads(line)
        folder = Path(job["dir"])
        os.chdir(folder)
        err = io.StringIO()
        result = {"code": None, "stderr": "", "traceback": None, "violations": [], "statuses": []}
        try:
            with contextlib.redirect_stderr(err):
                result["code"] = main(job["argv"])
        except BaseException:  # noqa: BLE001 - anything escaping main is a finding
            result["traceback"] = traceback.format_exc()
        result["stderr"] = err.getvalue()
        sys.stdout.seek(0)
        sys.stdout.truncate()
        if result["code"] == 0:
            for manifest in sorted(folder.rglob("manifest.json")):
                run = manifest.parent
                result["statuses"].append(json.loads(manifest.read_text()).get("status"))
                try:
                    result["violations"] += [f"{run.name}: {v.invariant}: {v.detail}"
                                             for v in check_run(run)]
                except BaseException as exc:  # noqa: BLE001
                    result["violations"].append(f"{run.name}: check failed: {exc!r}")
        reply.write(json.dumps(result) + "\n")
        reply.flush()


class Worker:
    """The worker process, restarted after a hang or a crash."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.replies: queue.Queue[str] = queue.Queue()

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from tests.test_fuzz_scenarios import worker; worker()"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        self.replies = queue.Queue()
        proc, replies = self.proc, self.replies
        threading.Thread(target=lambda: [replies.put(line) for line in proc.stdout],
                         daemon=True).start()

    def run(self, folder: Path, argv: list[str]) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.proc.stdin.write(json.dumps({"dir": str(folder), "argv": argv}) + "\n")
        self.proc.stdin.flush()
        try:
            return json.loads(self.replies.get(timeout=TIMEOUT_S))
        except queue.Empty:
            self.close()
            return {"hang": True}

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def campaign(selected: list[Case], tmp: Path) -> list[str]:
    """Run the cases; returns one line per failure (empty: the campaign passed)."""
    victim = tmp / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("must survive")
    failures = []
    worker = Worker()
    try:
        for case in selected:
            folder = tmp / f"case-{case.ident}"
            folder.mkdir()
            path = folder / "scenario.yaml"
            if isinstance(case.text, bytes):
                path.write_bytes(case.text)
            else:
                path.write_text(case.text)
            argv = ["run", str(path), "--no-progress", *(["--out", "out"] if case.use_out else [])]
            result = worker.run(folder, argv)
            failures += [f"{case.ident} {case.what}: {p}" for p in _judge(case, result)]
            outside = sorted(p.name for p in tmp.iterdir()
                             if p.name != "victim" and not p.name.startswith("case-"))
            if outside or not (victim / "keep.txt").is_file():
                failures.append(f"{case.ident} {case.what}: wrote outside its folder: {outside}")
    finally:
        worker.close()
    return failures


def _judge(case: Case, r: dict) -> list[str]:
    if r.get("hang"):
        return [f"hang (no answer in {TIMEOUT_S} s)"]
    if r["traceback"]:
        return [f"traceback: {r['traceback'].strip().splitlines()[-1]}"]
    lines = r["stderr"].strip().splitlines()
    if r["code"] == 2:
        ok = len(lines) == 1 and lines[0].startswith("flexcosim: error: ")
        return [] if ok else [f"exit 2 but stderr is not one error line: {lines[:3]}"]
    if r["code"] != 0:
        return [f"exit {r['code']}: {lines[:2]}"]
    problems = []
    if case.must_refuse:
        problems.append("silent accept: nonsense ran")
    if not r["statuses"] or any(s != "complete" for s in r["statuses"]):
        problems.append(f"exit 0 but run folders say {r['statuses']}")
    problems += r["violations"]
    return problems


def test_the_cut_of_a_sessions_scenario_assembles_from_any_folder(tmp_path):
    """Unmutated, it must be accepted: else its cases are refused for the cut, not the mutation."""
    from flexcosim.cosim.world import assemble
    from flexcosim.scenarios.schema import parse_scenario

    for name in ("workplace-sessions", "capacity-sharing"):
        data = base_scenarios()[name]
        for variant in data.get("variants") or [None]:
            scenario = parse_scenario(data)
            assembly = assemble(scenario.variant(variant) if variant else scenario, tmp_path)
            assert assembly.fleets, (name, variant)


def test_generator_is_seeded():
    assert [c.text for c in cases(10)] == [c.text for c in cases(10)]
    assert [c.text for c in cases(10, SEED + 1)] != [c.text for c in cases(10)]


def test_fuzz_sample(tmp_path):
    """A fixed sample of the campaign, in the default run."""
    selected = cases(FAST_CASES)
    assert sum(c.must_refuse for c in selected) > FAST_CASES // 3
    assert campaign(selected, tmp_path) == []


@pytest.mark.slow
def test_fuzz_campaign(tmp_path):
    """The whole campaign: a few hundred mutated scenarios (about half an hour on one core)."""
    assert campaign(cases(SLOW_CASES, SEED + 1000), tmp_path) == []
