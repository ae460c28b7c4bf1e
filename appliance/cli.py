"""The `recorder` command: long-running services and `recorder admin …` tools."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from appliance import __version__
from appliance.config import Config, load_config
from appliance.errors import ApplianceError

if TYPE_CHECKING:
    from appliance.domain.events import Event

log = logging.getLogger("recorder")


def _context(config: Config, *, connect: bool = True):  # type: ignore[no-untyped-def]
    from appliance.services import accounts
    from appliance.services.context import AppContext

    if not connect:
        return AppContext.open(config, connect=False)
    ctx = AppContext.open(config)
    accounts.ensure_default_admin()
    return ctx


SERVICES = ("api", "capture", "scheduler", "monitor", "failover")


def serve(config: Config, names: tuple[str, ...]) -> int:
    """Run the named long-lived services in this process until SIGTERM."""
    from appliance import runtime, sd
    from appliance.event_follower import EventFollower
    from appliance.monitor import lifecycle
    from appliance.services import events, ha

    sd.use_journal_when_present()
    events.set_process("+".join(names))
    # The capture and the monitor, alone, start without the database (the capture answers
    # from what it knew, the monitor reports the outage; both connect when it is back);
    # every other service needs it.
    ctx = _context(config, connect=not set(names) <= {"capture", "monitor"})
    # Recordings and secrets a paired appliance sent open with its key, kept sealed by ours.
    ctx.master.follow_peers(partial(ha.peer_keys, ctx.master))
    # First, so the log level setting holds from the start; it never waits on the database.
    services: list[runtime.Service] = [EventFollower(ctx)]
    if "api" in names:
        from appliance.api.http.service import HttpService

        services.append(HttpService(ctx))
    if "capture" in names:
        from appliance.capture.service import CaptureService

        services.append(CaptureService(ctx))
    if "scheduler" in names:
        from appliance.scheduler.service import SchedulerService

        services.append(SchedulerService(ctx))
    if "monitor" in names:
        from appliance.monitor.service import MonitorService

        services.append(MonitorService(ctx))
    if "failover" in names:
        from appliance.ha.service import FailoverService

        services.append(FailoverService(ctx))
    log.info("recorder %s starting %s", __version__, ", ".join(names))
    # Says in the data directory that this process runs these services, and at the end
    # whether it stopped cleanly: the monitor tells a clean stop from a death by it.
    previous = lifecycle.mark_started(config.data_dir, names)
    if previous is not None:
        log.warning(
            "the previous %s process (pid %d) ended abnormally", previous.role, previous.pid
        )
    status = runtime.run(services)
    lifecycle.mark_stopped(config.data_dir, names, failed=status != 0)
    return status


def admin_migrate(config: Config, _: argparse.Namespace) -> int:
    from appliance.db.connect import DatabaseUrl
    from appliance.db.migrations import LATEST, migrate

    applied = migrate(DatabaseUrl.parse(config.database_url))
    print(f"schema at version {LATEST}; applied: {applied or 'nothing'}")
    return 0


def admin_init(config: Config, _: argparse.Namespace) -> int:
    from appliance import provision
    from appliance.db.database import close_database

    _context(config)  # the master key, the schema and the default administrator
    close_database()
    provision.give_to_owner_of(config.data_dir)
    provision.share_with_group_of(config.key_file, config.config_dir)
    made = provision.ensure_certificate(config.tls_cert, config.tls_key)
    identity = provision.ensure_identity(config.config_dir)
    print(f"master key {config.key_file}")
    print(f"TLS certificate {config.tls_cert} ({'made now' if made else 'kept'})")
    print(f"appliance identity {identity}")
    return 0


def admin_export_schema(_: Config, args: argparse.Namespace) -> int:
    from appliance.api.graphql.schema import sdl

    text = sdl()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    return 0


def admin_check_storage(config: Config, _: argparse.Namespace) -> int:
    from appliance.services.system import check_storage

    checked, problems = check_storage(_context(config))
    for p in problems:
        print(f"{p.problem}: recording {p.recording_id} (SN {p.sn}) file {p.relpath}")
    print(f"checked {checked} recordings: {len(problems)} missing or corrupt")
    return 1 if problems else 0


def admin_vrrp_config(config: Config, args: argparse.Namespace) -> int:
    """keepalived's configuration for this side of the pair, and its two scripts."""
    from appliance.ha import vrrp

    side = vrrp.VrrpSide(
        interface=args.interface,
        vip=args.vip,
        router_id=args.router_id,
        ha_dir=config.data_dir / "ha",
        scripts=Path(args.scripts).resolve(),
        peer=args.peer or "",
        source=args.source or "",
    )
    text = vrrp.config_text(side)
    vrrp.write_scripts(side.scripts)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output} and the scripts in {side.scripts}")
    return 0


def admin_check_stats(config: Config, args: argparse.Namespace) -> int:
    from appliance.services import reports

    _context(config)
    found = reports.check(repair=not args.no_repair)
    for d in found.differences:
        state = "agrees" if d.missing == 0 and d.extra == 0 else "differs"
        print(
            f"{d.table}: {state} with a recount ({d.missing} rows missing or wrong, {d.extra} extra)"
        )
    if found.repaired:
        print("repaired: the roll-ups were rebuilt from the recordings")
    print(f"peak concurrency computed for {found.peaks} days")
    return 0 if found.consistent or found.repaired else 1


def admin_sweep_orphans(config: Config, _: argparse.Namespace) -> int:
    from appliance.services.housekeeping import sweep_orphans

    removed = sweep_orphans(_context(config))
    for relpath in removed:
        print(f"removed {relpath}")
    print(f"{len(removed)} orphaned files removed")
    return 0


def admin_jobs(config: Config, args: argparse.Namespace) -> int:
    from appliance.services import jobs, settings
    from appliance.services.context import use_time_zone

    _context(config)
    zone = ZoneInfo(settings.current().time_zone)
    use_time_zone(zone)
    if args.run:
        if not jobs.run_soon(args.run):
            print(f"recorder: no job named {args.run!r}", file=sys.stderr)
            return 2
        print(f"job {args.run!r} is due now: a running scheduler starts it within seconds")
        return 0

    def when(value: datetime | None) -> str:
        return "-" if value is None else f"{value.astimezone(zone):%Y-%m-%d %H:%M:%S}"

    print(f"job\tnext run\tlast run\tresult\tduration ms\terror (times in {zone})")
    for j in jobs.overview():
        running = f" (leased by {j.lease_owner})" if j.lease_owner else ""
        print(
            f"{j.name}\t{when(j.next_run_at)}{running}\t{when(j.last_run_at)}\t"
            f"{j.last_result or '-'}\t{j.last_duration_ms if j.last_duration_ms is not None else '-'}"
            f"\t{j.last_error or ''}"
        )
    return 0


def admin_token_create(config: Config, args: argparse.Namespace) -> int:
    from appliance.services import accounts
    from appliance.services.context import SYSTEM

    _context(config)
    view, secret = accounts.create_token(SYSTEM, args.name, args.user)
    print(f"token {view.id} '{view.name}' acts as {view.login}; keep it secret, it is shown once:")
    print(secret)
    return 0


def admin_token_list(config: Config, _: argparse.Namespace) -> int:
    from appliance.services import accounts
    from appliance.services.context import SYSTEM

    _context(config)
    for t in accounts.list_tokens(SYSTEM):
        state = "revoked" if t.revoked else "active"
        print(f"{t.id}\t{t.name}\t{t.login}\t{state}\tcreated {t.created_at:%Y-%m-%d %H:%M}")
    return 0


def admin_token_revoke(config: Config, args: argparse.Namespace) -> int:
    from appliance.services import accounts
    from appliance.services.context import SYSTEM

    _context(config)
    t = accounts.revoke_token(SYSTEM, args.id)
    print(f"token {t.id} '{t.name}' revoked")
    return 0


def admin_reset_password(config: Config, args: argparse.Namespace) -> int:
    from appliance.services import accounts
    from appliance.services.context import SYSTEM

    _context(config)
    password = args.password
    if password is None:
        password = getpass.getpass(f"new password for {args.login}: ")
        if password != getpass.getpass("repeat: "):
            print("the two passwords differ", file=sys.stderr)
            return 2
    ended = accounts.reset_password(SYSTEM, args.login, password)
    print(f"password of {args.login} changed; {ended.sessions} sessions ended")
    return 0


def admin_import_backup(config: Config, args: argparse.Namespace) -> int:
    """Import backup sets from a folder, a server or a share; progress on stderr."""
    import json

    from appliance.backup import importer, runner
    from appliance.domain.backup import location_kind, parse_location
    from appliance.services import backups
    from appliance.services.context import SYSTEM
    from appliance.transfer.client import Credentials, connect_target

    ctx = _context(config)
    passphrase = Path(args.passphrase_file).read_text(encoding="utf-8").rstrip("\r\n")
    if args.target is not None:
        target = backups.target_config(args.target, ctx.master)
        client = runner.sign_in(target)
        source = target.where.label()
    else:
        where = parse_location(location_kind(args.location), args.location)
        password = ""
        if args.password_file:
            password = Path(args.password_file).read_text(encoding="utf-8").rstrip("\r\n")
        client = connect_target(where, Credentials(args.username or "", password))
        source = where.label()

    def progress(state: dict[str, object]) -> None:
        print(json.dumps(state) if args.json else
              "imported {recordings} calls, {voicemails} voice messages; {skipped} already "
              "here; {problems} problems".format(**state), file=sys.stderr)  # fmt: skip

    try:
        if args.list:
            for name in importer.list_sets(client):
                print(name or ".")
            return 0
        run = importer.import_backup(
            ctx, SYSTEM, client, passphrase, sets=args.set or None, source=source,
            progress=progress, include_config=args.config,
        )  # fmt: skip
    finally:
        client.close()
    if run.config is not None:
        created = ", ".join(f"{kind} {n}" for kind, n in sorted(run.config.created.items()))
        print(f"configuration restored: {created or 'nothing missing'}", file=sys.stderr)
    for problem in run.counts.problems:
        print(f"{problem.subject}: {problem.reason} {problem.detail}".strip(), file=sys.stderr)
    print(json.dumps(run.summary()) if args.json else
          f"{run.result.value}: {run.counts.recordings} calls and {run.counts.voicemails} voice"
          f" messages imported, {run.counts.skipped} already here,"
          f" {len(run.counts.problems)} problems"
          + (f"; {run.error}: {run.detail}" if run.error else ""))  # fmt: skip
    return 0 if run.result.value == "DONE" else 1


def admin_set_enabled(config: Config, args: argparse.Namespace) -> int:
    from appliance.services import accounts
    from appliance.services.context import SYSTEM

    _context(config)
    enable = args.admin_command == "enable"
    ended = accounts.set_enabled(SYSTEM, args.login, enable)
    if enable:
        print(f"account {args.login} enabled")
    else:
        print(
            f"account {args.login} disabled; {ended.sessions} sessions ended, "
            f"{ended.tokens} API tokens revoked"
        )
    return 0


def admin_events(config: Config, args: argparse.Namespace) -> int:
    """Print the event log, one entry a line; with --follow, new entries as they commit."""
    from appliance.services import events
    from appliance.services.context import AppContext

    AppContext.open(config)
    if args.reader and not args.follow:
        print("--reader needs --follow", file=sys.stderr)
        return 2
    if args.follow:
        found = events.follow(args.reader, args.after)
    else:
        found = _all_after(args.after)
    try:
        _print_events(found, args.json)
    except KeyboardInterrupt:
        pass
    return 0


def admin_alarm(config: Config, args: argparse.Namespace) -> int:
    """Raise or clear an alarm by hand: a drill of the NOC's traps and mail, or a site's
    own check (a backup script) reporting through the appliance."""
    from appliance.domain.alarms import AlarmEvent
    from appliance.services import alarms

    _context(config)
    try:
        event = AlarmEvent(args.event.upper())
    except ValueError:
        names = ", ".join(e.value for e in AlarmEvent)
        print(f"recorder: no alarm event {args.event!r}; one of {names}", file=sys.stderr)
        return 2
    if args.alarm_command == "raise":
        said = {"error": args.error, "service": args.subject or "-"}
        raised = alarms.raise_alarm(event, value=args.value, subject=args.subject, **said)
        if raised is None:
            print(f"{event.value} is already active")
            return 0
        print(f"alarm {raised.id} raised: {raised.message}")
        return 0
    cleared = alarms.clear_alarm(event, subject=args.subject)
    print(f"alarm {cleared.id} cleared" if cleared else f"{event.value} was not active")
    return 0


def _print_events(found: Iterator[Event], as_json: bool) -> None:
    import json

    for e in found:
        at = e.at.isoformat().replace("+00:00", "Z")
        if as_json:
            line = json.dumps(
                {
                    "id": e.id,
                    "at": at,
                    "kind": e.kind,
                    "process": e.process,
                    "actor": e.actor,
                    "params": e.params,
                },
                ensure_ascii=False,
            )
        else:
            params = json.dumps(e.params, ensure_ascii=False)
            line = f"{e.id}\t{at}\t{e.kind}\t{e.actor}\t{e.process}\t{params}"
        # Printed before the reader's cursor moves past it: at least once, even if killed.
        print(line, flush=True)


def _all_after(last_id: int) -> Iterator[Event]:
    from appliance.services import events

    while batch := events.after(last_id):
        yield from batch
        last_id = batch[-1].id


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recorder", description="Call-recording appliance")
    parser.add_argument("--version", action="version", version=f"recorder {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    every = sub.add_parser("all", help="every service in one process (the embedded default)")
    every.add_argument(
        "--without",
        action="append",
        default=[],
        choices=SERVICES,
        metavar="SERVICE",
        help="leave this service out (e.g. the scheduler of a test appliance on a shared disk)",
    )
    sub.add_parser("api", help="GraphQL, HTTP and the console")
    sub.add_parser("capture", help="the SIP recording server")
    sub.add_parser("scheduler", help="circular recording and other periodic jobs")
    sub.add_parser("monitor", help="metrics, alarms, alarm e-mail and SNMP")
    sub.add_parser("failover", help="primary/standby role")
    admin = sub.add_parser("admin", help="maintenance tools").add_subparsers(
        dest="admin_command", required=True
    )
    admin.add_parser("migrate", help="apply pending schema migrations").set_defaults(
        handler=admin_migrate
    )
    admin.add_parser(
        "init", help="make what is missing: keys, TLS certificate, identity, schema (first boot)"
    ).set_defaults(handler=admin_init)
    export = admin.add_parser("export-schema", help="write the GraphQL SDL")
    export.add_argument("--output", "-o", default="graphql/schema.graphql", help="file, or -")
    export.set_defaults(handler=admin_export_schema)
    admin.add_parser(
        "check-storage", help="report recordings whose files are missing or corrupt"
    ).set_defaults(handler=admin_check_storage)
    stats = admin.add_parser(
        "check-stats", help="compare the statistics roll-ups with a recount and repair them"
    )
    stats.add_argument(
        "--no-repair", action="store_true", help="only report differences (exit 1 if any)"
    )
    stats.set_defaults(handler=admin_check_stats)
    vip = admin.add_parser(
        "vrrp-config",
        help="keepalived's configuration for a virtual IP that follows the primary",
    )
    vip.add_argument("--interface", required=True, help="the interface the address goes on")
    vip.add_argument(
        "--vip", required=True, help="the virtual address with its prefix, e.g. 192.0.2.100/24"
    )
    vip.add_argument(
        "--router-id", type=int, default=51, help="VRRP's virtual router id, the same on both sides"
    )
    vip.add_argument("--peer", help="the other side's address (unicast VRRP; multicast without it)")
    vip.add_argument("--source", help="this side's address for unicast VRRP")
    vip.add_argument(
        "--scripts",
        default="/usr/lib/recorder/keepalived",
        help="where the check and notify scripts go",
    )
    vip.add_argument("--output", default="-", help="the file to write (default: standard output)")
    vip.set_defaults(handler=admin_vrrp_config)
    admin.add_parser(
        "sweep-orphans", help="remove stored files no recording refers to (older than an hour)"
    ).set_defaults(handler=admin_sweep_orphans)
    jobs = admin.add_parser("jobs", help="list scheduled jobs with their next and last run")
    jobs.add_argument("--run", metavar="NAME", help="make this job due now instead")
    jobs.set_defaults(handler=admin_jobs)
    reset = admin.add_parser("reset-password", help="set a user's password")
    reset.add_argument("login")
    reset.add_argument("--password", help="the new password (prompted when omitted)")
    reset.set_defaults(handler=admin_reset_password)
    for verb, text in (
        ("disable", "disable an account: its sessions end, its tokens are revoked"),
        ("enable", "enable a disabled account again"),
    ):
        toggle = admin.add_parser(verb, help=text)
        toggle.add_argument("login")
        toggle.set_defaults(handler=admin_set_enabled)
    imported = admin.add_parser(
        "import-backup",
        help="import backup sets (a folder, ftp://, ftps://, sftp://, \\\\host\\share\\dir)",
    )
    imported.add_argument("location", nargs="?", default="", help="where the sets are")
    imported.add_argument("--passphrase-file", required=True, help="the backup passphrase")
    imported.add_argument("--target", type=int, help="a configured backup target's id instead")
    imported.add_argument("--username", help="for a server or a share")
    imported.add_argument("--password-file", help="for a server or a share")
    imported.add_argument("--set", action="append", help="only this set (repeatable)")
    imported.add_argument("--list", action="store_true", help="list the sets and stop")
    imported.add_argument(
        "--config",
        action="store_true",
        help="also restore the configuration the newest set carries (what is missing)",
    )
    imported.add_argument("--json", action="store_true", help="progress and result as JSON")
    imported.set_defaults(handler=admin_import_backup)
    shown = admin.add_parser("events", help="print the event log, one entry a line")
    shown.add_argument("--after", type=int, default=0, metavar="ID", help="entries after this id")
    shown.add_argument(
        "--follow", action="store_true", help="keep printing new entries as they commit"
    )
    shown.add_argument(
        "--reader",
        metavar="NAME",
        help="with --follow: resume after this reader's saved position and save it as it goes",
    )
    shown.add_argument("--json", action="store_true", help="one JSON object a line")
    shown.set_defaults(handler=admin_events)
    alarm = admin.add_parser("alarm", help="raise or clear an alarm (a drill of traps and mail)")
    alarm_verbs = alarm.add_subparsers(dest="alarm_command", required=True)
    for verb in ("raise", "clear"):
        one = alarm_verbs.add_parser(verb, help=f"{verb} an alarm event (e.g. BACKUP_FAILED)")
        one.add_argument("event", help="CPU_HIGH, BACKUP_FAILED, NO_RECORDING, ...")
        one.add_argument("--subject", default="", help="which occurrence (a service's name)")
        if verb == "raise":
            one.add_argument("--value", type=float, default=None, help="the measured value")
            one.add_argument("--error", default="raised by hand", help="what went wrong, in words")
        one.set_defaults(handler=admin_alarm)
    token = admin.add_parser("token", help="API tokens for integrators").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", help="create a token; prints it as the last line")
    create.add_argument("--name", required=True)
    create.add_argument("--user", default="admin", help="login the token acts as")
    create.set_defaults(handler=admin_token_create)
    token.add_parser("list", help="list tokens").set_defaults(handler=admin_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(handler=admin_token_revoke)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = build_parser().parse_args(argv)
    try:
        config = load_config()
        if args.command == "all":
            return serve(config, tuple(s for s in SERVICES if s not in args.without))
        if args.command in SERVICES:
            return serve(config, (args.command,))
        return int(args.handler(config, args))
    except ApplianceError as exc:
        print(f"recorder: {exc}", file=sys.stderr)
        return 2
