"""python manage.py simulate <sim> [--set name=value …] [--seed N] [--format json|csv|table]"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

import simulations

from ... import sims
from ...cli import query_from_sets


class Command(BaseCommand):
    help = "Run a simulation and print the same result as /simulations/<sim>.json."

    def add_arguments(self, parser: CommandParser) -> None:
        names = ", ".join(simulations.registry()) or "none registered"
        parser.add_argument("simulation", help=f"which simulation ({names})")
        parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                            help="set a parameter (repeatable); see --list")
        parser.add_argument("--seed", help="random seed (default 42)")
        parser.add_argument("--format", choices=["json", "csv", "table"], default="json")
        parser.add_argument("--list", action="store_true",
                            help="list the simulation's parameters and exit")

    def handle(self, *args, **opts) -> None:
        sim = simulations.get(opts["simulation"])
        if sim is None:
            known = ", ".join(simulations.registry())
            raise CommandError(f"unknown simulation {opts['simulation']!r} (known: {known})")
        if opts["list"]:
            for p in sim.all_params:
                self.stdout.write(f"{p.name:18} {p.describe():60} default {p.to_query(p.default)}"
                                  f"{'  (' + p.unit + ')' if p.unit else ''}")
            return
        query = query_from_sets(opts["set"], opts["seed"])
        state = sims.resolve(sim, query)
        if state.first_problem is not None:
            raise CommandError(state.first_problem.message)
        result = sims.run(state)
        match opts["format"]:
            case "json":
                self.stdout.write(json.dumps(result.to_json(), indent=2))
            case "csv":
                self.stdout.write(sims.csv_text(result.series), ending="")
            case "table":
                self.stdout.write(f"{result.title} (seed {result.seed}, {result.version})")
                for m in sims.metric_rows(result):
                    extra = f"  95% CI {m['ci95']}" if m["ci95"] else ""
                    extra += f"  closed form {m['closed_form']}" if m["closed_form"] else ""
                    self.stdout.write(f"  {m['name']:22} {m['value']:>14}{extra}")
                self.stdout.write(result.summary)
