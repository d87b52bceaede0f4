"""python manage.py sweep <sim> --vary name=lo..hi [--points N] [--metric m …] [--by name=v1,v2]
[--set name=value …] [--seed N] [--format json|csv|table]"""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

import simulations
from simulations import ParamError

from ... import sims, sweeps
from ...cli import query_from_sets


class Command(BaseCommand):
    help = ("Sweep a simulation's metrics across one parameter "
            "(the same numbers as /simulations/<sim>/sweep.json).")

    def add_arguments(self, parser: CommandParser) -> None:
        names = ", ".join(simulations.registry()) or "none registered"
        parser.add_argument("simulation", help=f"which simulation ({names})")
        parser.add_argument("--vary", required=True, metavar="NAME=LO..HI",
                            help="the numeric parameter to sweep and its range (NAME alone: "
                                 "the whole declared range)")
        parser.add_argument("--points", help="how many values of the parameter (default 12)")
        parser.add_argument("--metric", action="append", default=[], metavar="METRIC",
                            help="a metric to report (repeatable; default: the first)")
        parser.add_argument("--by", metavar="NAME=V1,V2", help="one series per value of NAME")
        parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                            help="hold a parameter at a value (repeatable)")
        parser.add_argument("--seed", help="random seed (default 42)")
        parser.add_argument("--format", choices=["json", "csv", "table"], default="table")

    def handle(self, *args, **opts) -> None:
        sim = simulations.get(opts["simulation"])
        if sim is None:
            known = ", ".join(simulations.registry())
            raise CommandError(f"unknown simulation {opts['simulation']!r} (known: {known})")
        query = query_from_sets(opts["set"], opts["seed"])
        name, sep, span = opts["vary"].partition("=")
        query["vary"] = name.strip()
        if sep:
            lo, dots, hi = span.partition("..")
            if not dots:
                raise CommandError(f"--vary expects NAME=LO..HI (got {opts['vary']!r})")
            query["lo"], query["hi"] = lo.strip(), hi.strip()
        if opts["points"] is not None:
            query["points"] = opts["points"]
        if opts["metric"]:
            query["metric"] = ",".join(opts["metric"])
        if opts["by"]:
            by, sep, values = opts["by"].partition("=")
            query["by"] = by.strip()
            if sep:
                query["by_values"] = values
        try:
            state = sweeps.resolve(sim, query)
        except ParamError as exc:
            raise CommandError(f"{exc.name}: {exc.message}") from None
        start = time.perf_counter()
        values = sweeps.compute_all(state, deadline_s=None)
        data = sweeps.payload(state, values, (time.perf_counter() - start) * 1000)
        match opts["format"]:
            case "json":
                self.stdout.write(json.dumps(data, indent=2))
            case "csv":
                self.stdout.write(sims.csv_text(data["series"]), ending="")
            case "table":
                self._table(state, data)

    def _table(self, state: sweeps.SweepState, data: dict) -> None:
        spec = state.spec
        self.stdout.write(f"{data['title']} (seed {data['seed']}, {data['seeds_per_point']} "
                          f"seed(s) per point, {data['version']}, {data['elapsed_ms']:.0f} ms)")
        head = f"  {spec.vary:>12}" + (f" {spec.by:>12}" if spec.by else "")
        self.stdout.write(head + f"  {'metric':22} {'value':>14}  {'95% CI':>28}  closed form")
        for pt in data["points"]:
            for m, v in pt["metrics"].items():
                unit = data["metrics"][m]["unit"]
                ci = v.get("ci95")
                ci_text = (f"{sims.format_value(ci[0], unit)} – {sims.format_value(ci[1], unit)}"
                           if ci else "–")
                cf = v.get("closed_form")
                row = f"  {pt['x']!s:>12}" + (f" {pt['by']!s:>12}" if spec.by else "")
                self.stdout.write(f"{row}  {m:22} {sims.format_value(v['value'], unit):>14}  "
                                  f"{ci_text:>28}  {sims.format_value(cf, unit) if cf is not None else '–'}")
        self.stdout.write(data["summary"])
