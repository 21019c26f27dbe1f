"""``flexcosim step <scenario>``: a command prompt over a :class:`~cosim.session.Session`.

Commands (``help <command>`` for one)::

    advance [n]                  simulate n steps (default 1)
    next                         simulate up to and including the next event's second
    until HH:MM                  simulate up to the next HH:MM on the scenario clock
    end                          simulate the rest
    show evs|chargers|sites|grid|agents|decisions|platform|messages|pending
    inject outage <site> <n>     n chargers of <site> fail (0 repairs them)
    inject capacity <site> <kw>  cap the site's draw (inf lifts the cap)
    inject platform-down <HH:MM> the DSO platform is unreachable until HH:MM
    inject link-down <agent> <HH:MM>  the agent's link is down until HH:MM
    inject latency <agent> <s>   messages to or from the agent take s seconds from now on
    save [dir]                   write the run folder so far
    quit                         end the session

A bad command prints one ``error:`` line and the prompt comes back; so does a clock
time past the scenario's end and a folder ``save`` cannot write. Ctrl-C at the prompt
or while simulating returns to the prompt (the simulation pauses before its next step).
"""

from __future__ import annotations

import cmd
from pathlib import Path

import pandas as pd

from flexcosim.cosim.session import (
    CapacityLimit,
    ChargerOutage,
    LinkChange,
    LinkOutage,
    PlatformOutage,
    Session,
)
from flexcosim.cosim.world import assemble
from flexcosim.scenarios.schema import Scenario

TABLES = ("evs", "chargers", "sites", "grid", "agents", "decisions", "platform", "messages",
          "pending")


class Stepper(cmd.Cmd):
    intro = "flexcosim stepper: 'help' lists the commands, 'quit' ends."

    def __init__(self, session: Session, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.start = pd.Timestamp(session.scenario.start)
        self._set_prompt()

    def _set_prompt(self) -> None:
        clock = self.start + pd.Timedelta(seconds=self.session.time_s)
        end = " (end)" if self.session.finished else ""
        self.prompt = f"[{clock:%a %H:%M} t={self.session.time_s}s{end}] > "

    def cmdloop(self, intro: str | None = None) -> None:
        while True:
            try:
                super().cmdloop(intro)
                return
            except KeyboardInterrupt:  # at the prompt: a new prompt, as a shell does
                self.stdout.write("^C ('quit' ends the session)\n")
                intro = ""

    def onecmd(self, line: str) -> bool:
        try:
            stop = super().onecmd(line)
        except (ValueError, RuntimeError) as exc:
            self.stdout.write(f"error: {exc}\n")
            stop = False
        except OSError as exc:
            self.stdout.write(f"error: {exc.strerror or exc}: {exc.filename or ''}\n")
            stop = False
        except KeyboardInterrupt:
            self.session.interrupt()
            self.stdout.write(f"interrupted at t={self.session.time_s}s\n")
            stop = False
        self._set_prompt()
        return stop

    def emptyline(self) -> bool:
        return False

    def default(self, line: str) -> None:
        raise ValueError(f"unknown command {line.split()[0]!r}; 'help' lists the commands")

    def do_advance(self, arg: str) -> None:
        """advance [n]: simulate n steps (default 1)."""
        self.session.advance(int(arg) if arg.strip() else 1)

    def do_next(self, arg: str) -> None:
        """next: simulate up to and including the next event's second."""
        self.session.advance_to_next_event()

    def do_until(self, arg: str) -> None:
        """until HH:MM: simulate up to the next HH:MM on the scenario clock."""
        self.session.advance_to(self._clock_s(arg))

    def _clock_s(self, arg: str) -> int:
        """The next HH:MM on the scenario clock, in s since the start."""
        try:
            hours, minutes = (int(x) for x in arg.strip().split(":"))
        except ValueError:
            raise ValueError(f"{arg.strip()!r}; need HH:MM, e.g. 18:30") from None
        if not (0 <= hours <= 23 and 0 <= minutes <= 59):
            raise ValueError(f"{arg.strip()!r}; need HH:MM with HH 00-23 and MM 00-59")
        now = self.start + pd.Timedelta(seconds=self.session.time_s)
        target = now.normalize() + pd.Timedelta(hours=hours, minutes=minutes)
        if target <= now:
            target += pd.Timedelta(days=1)
        time_s = int((target - self.start).total_seconds())
        end = self.start + pd.Timedelta(seconds=self.session.scenario.duration_s)
        if time_s > self.session.scenario.duration_s:
            raise ValueError(f"the next {arg.strip()} is {target:%a %H:%M}, after the scenario's "
                             f"end {end:%a %H:%M}; 'end' runs to the end")
        return time_s

    def do_end(self, arg: str) -> None:
        """end: simulate the rest of the scenario."""
        self.session.run_to_end()

    def do_show(self, arg: str) -> None:
        """show evs|chargers|sites|grid|agents|decisions|platform|messages|pending: print a table."""
        name = arg.strip()
        if name not in TABLES:
            raise ValueError(f"show {name!r}; allowed: {', '.join(TABLES)}")
        with pd.option_context("display.width", 160, "display.max_columns", 20,
                               "display.max_rows", 200):
            self.stdout.write(f"{getattr(self.session, name)()}\n")

    def do_inject(self, arg: str) -> None:
        """inject outage <site> <n> | capacity <site> <kw> | platform-down <HH:MM> |
        link-down <agent> <HH:MM> | latency <agent> <s>: from now on."""
        usage = ("inject outage <site> <n> | inject capacity <site> <kw> | inject platform-down <HH:MM>"
                 " | inject link-down <agent> <HH:MM> | inject latency <agent> <s>")
        parts = arg.split()
        if parts[:1] == ["platform-down"] and len(parts) == 2:
            until_s = self._clock_s(parts[1])
            self.session.inject(PlatformOutage(until_s))
            self.stdout.write(f"injected platform outage until t={until_s}s\n")
            return
        if parts[:1] == ["link-down"] and len(parts) == 3:
            until_s = self._clock_s(parts[2])
            self.session.inject(LinkOutage(parts[1], until_s))
            self.stdout.write(f"injected outage of {parts[1]} until t={until_s}s\n")
            return
        if parts[:1] == ["latency"] and len(parts) == 3:
            self.session.inject(LinkChange(parts[1], float(parts[2])))
            self.stdout.write(f"messages to or from {parts[1]} take {parts[2]} s from t={self.session.time_s}s\n")
            return
        if len(parts) != 3 or parts[0] not in ("outage", "capacity"):
            raise ValueError(usage)
        kind, site, value = parts
        if kind == "outage":
            self.session.inject(ChargerOutage(site, int(value)))
        else:
            self.session.inject(CapacityLimit(site, float(value)))
        self.stdout.write(f"injected {kind} at {site} from t={self.session.time_s}s\n")

    def do_save(self, arg: str) -> None:
        """save [dir]: write the run folder so far (default: the session's folder)."""
        out = self.session.save(Path(arg.strip()) if arg.strip() else None)
        self.stdout.write(f"run folder: {out}\n")

    def do_quit(self, arg: str) -> bool:
        """quit: end the session."""
        return True

    do_EOF = do_quit


def step(scenario: Scenario, base_dir: Path, out: Path | None = None) -> int:
    """Open ``scenario`` (files relative to ``base_dir``) and run the prompt until ``quit``.

    Returns the exit status.
    """
    with Session(assemble(scenario, base_dir), out) as session:
        Stepper(session).cmdloop()
    return 0
