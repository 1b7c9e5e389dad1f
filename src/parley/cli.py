"""The ``parley`` command. Each subcommand is a thin shell over the composition root."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from parley import __version__
from parley.config import ConfigError, PortRange, Settings

if TYPE_CHECKING:
    from parley.app import Node

app = typer.Typer(
    help="Parley: an open-source contact center.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _run_node(settings: Settings, *, demo: bool = False) -> None:
    """Build and run a node in the foreground; print its banner once every service listens."""
    from parley import app as composition
    from parley.logs import configure_logging, drain_logs, say

    configure_logging(json=settings.log_json, background=True)

    def ready(running: Node) -> None:
        for line in running.banner:
            say(line)
        say("Press Ctrl-C to stop.")

    from parley.ha import LeaseLost
    from parley.net.floating_ip import FloatingIpError
    from parley.web.server import ListenError

    try:
        try:
            composition.run(settings, demo=demo, ready=ready)
        finally:  # the node's last lines before what is said of how it ended
            drain_logs()
    except (ConfigError, FloatingIpError, ListenError) as exc:
        raise _fail(str(exc)) from exc
    except LeaseLost as lost:  # a hot-standby node: its service manager starts it again
        typer.secho(f"error: {lost}; the node stopped (started again, it stands by)",
                    err=True, fg=typer.colors.RED)
        raise typer.Exit(code=3) from None
    say("Parley stopped.")
    drain_logs()


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=2)


@app.command()
def version() -> None:
    """Print Parley's version."""
    typer.echo(__version__)


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    sip_port: Annotated[int, typer.Option(help="SIP port (UDP and TCP).")] = 5060,
    http_port: Annotated[int, typer.Option(help="Web UI and API port.")] = 8080,
    rtp_ports: Annotated[str, typer.Option(help="RTP port range.")] = "20000-29999",
    data_dir: Annotated[Path, typer.Option(help="Where the database, recordings "
                                                "and caches live.")] = Path("parley-data"),
) -> None:
    """Run Parley with its embedded defaults and the demo configuration."""
    try:
        settings = _settings(data_dir, None, host=host, sip_port=sip_port,
                             http_port=http_port, rtp_ports=PortRange.parse(rtp_ports))
    except ConfigError as exc:
        raise _fail(str(exc)) from exc

    _run_node(settings, demo=True)


@app.command("check-flows")
def check_flows(
    paths: Annotated[list[Path], typer.Argument(help="Flow files (YAML) or folders of them.")],
    prompts: Annotated[bool, typer.Option(
        help="Check that every prompt each flow can play exists in each of its languages "
             "(the prompt folders of the media settings).")] = True,
) -> None:
    """Validate IVR flow files; print every issue with file, line, node and field (and the
    language, for a prompt missing in one)."""
    from parley.ivr.errors import Severity
    from parley.ivr.prompt_check import check_prompts
    from parley.ivr.validator import validate_flow
    from parley.telephony.prompts import PromptLibrary

    library: PromptLibrary | None = None
    if prompts:
        try:
            media = _settings(Path("parley-data"), None).media
        except ConfigError as exc:
            raise _fail(str(exc)) from exc
        library = PromptLibrary.from_settings(media, Path("parley-data"))

    files = [p for path in paths for p in (sorted(path.glob("*.yaml")) if path.is_dir()
                                           else [path])]
    failed = False
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise _fail(f"cannot read {file}: {exc.strerror}") from exc
        result = validate_flow(text, str(file))
        issues = list(result.issues)
        if library is not None and result.flow is not None:
            issues += check_prompts(result.flow, library.exists,
                                    site_language=library.default_language)
        errors = [issue for issue in issues if issue.severity is Severity.ERROR]
        for issue in issues:
            typer.echo(str(issue))
        failed = failed or bool(errors) or result.flow is None
        status = "ok" if not errors and result.flow is not None else f"{len(errors)} error(s)"
        typer.echo(f"{file}: {status}")
    if failed:
        raise typer.Exit(code=1)


@app.command()
def simulate(
    scenario: Annotated[Path | None, typer.Argument(
        help="Scenario file (YAML, see docs/acd.md); omit to use the flags below.")] = None,
    agents: Annotated[int | None, typer.Option(help="Operators, all logged in.")] = None,
    arrival_rate: Annotated[float | None, typer.Option(
        help="Calls per hour (Poisson).")] = None,
    aht: Annotated[float | None, typer.Option(
        help="Average handle time in seconds (exponential).")] = None,
    patience: Annotated[float | None, typer.Option(
        help="Mean caller patience in seconds (exponential); none: nobody abandons.")] = None,
    sl_threshold: Annotated[float, typer.Option(
        help="Service-level threshold in seconds.")] = 20.0,
    hours: Annotated[float, typer.Option(help="Simulated hours.")] = 8.0,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object with the totals.")] = False,
    chart: Annotated[Path | None, typer.Option(
        help="Draw the per-interval figures into this PNG (needs parley[charts]).")] = None,
) -> None:
    """Simulate a contact center on a virtual clock, driving the real ACD."""
    import json

    from parley.acd.theory import erlang_a, erlang_c_metrics
    from parley.sim.inbound import simulate as run_simulation
    from parley.sim.report import draw_chart, format_table
    from parley.sim.scenario import ScenarioError, load_scenario, simple_scenario

    flags = (agents, arrival_rate, aht)
    try:
        if scenario is not None:
            if any(flag is not None for flag in (*flags, patience)):
                raise ScenarioError("give either a scenario file or --agents/--arrival-rate/"
                                    "--aht/--patience, not both")
            plan = load_scenario(scenario)
            if seed is not None:
                from dataclasses import replace

                plan = replace(plan, seed=seed)
        elif agents is None or arrival_rate is None or aht is None:
            raise ScenarioError("give a scenario file, or --agents, --arrival-rate and --aht")
        else:
            plan = simple_scenario(agents, arrival_rate, aht, hours, patience_s=patience,
                                   sl_threshold_s=sl_threshold, seed=seed or 0)
        result = run_simulation(plan)
        if chart is not None:
            draw_chart(result, chart)
    except ScenarioError as exc:
        raise _fail(str(exc)) from exc
    if json_output:
        summary = result.summary()
        if scenario is None and agents and aht and arrival_rate is not None:
            if patience:
                theory = erlang_a(arrival_rate, aht, patience, agents)
                summary["erlang_a"] = {"abandon_rate": round(theory.p_abandon, 4)}
            else:
                exact = erlang_c_metrics(arrival_rate, aht, agents, sl_threshold)
                summary["erlang_c"] = {"asa_s": round(exact.asa, 3),
                                       "service_level": round(exact.service_level, 4)}
        typer.echo(json.dumps(summary))
    else:
        typer.echo(format_table(result))
        if chart is not None:
            typer.echo(f"chart: {chart}")


# --- store, API and provisioning ---------------------------------------------------------------

DataDir = Annotated[Path, typer.Option(help="Where the database, recordings and caches live.")]
DatabaseUrl = Annotated[str | None, typer.Option(
    help="Database URL, e.g. postgresql://user@host/parley (default: SQLite in the data "
         "folder; also PARLEY_DATABASE_URL).")]


def _settings(data_dir: Path, database_url: str | None, **more: object) -> Settings:
    """The settings from the options and ``PARLEY_*``; a bad value is a :class:`ConfigError`
    naming the setting (not pydantic's report)."""
    from pydantic import ValidationError

    values: dict[str, object] = {"data_dir": data_dir, **more}
    if database_url:
        values["database_url"] = database_url
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(message, field=field or None) from exc


@app.command()
def serve(
    config: Annotated[Path | None, typer.Option(
        help="Provisioning YAML imported at start (records created or updated).")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    sip_port: Annotated[int, typer.Option(help="SIP port (UDP and TCP).")] = 5060,
    http_port: Annotated[int, typer.Option(help="Web UI and API port.")] = 8080,
    rtp_ports: Annotated[str, typer.Option(help="RTP port range.")] = "20000-29999",
    data_dir: DataDir = Path("parley-data"),
    database_url: DatabaseUrl = None,
) -> None:
    """Run Parley: SIP and media, the store, the REST API and live events."""
    import asyncio

    from parley.provisioning import import_file
    from parley.store import build_store

    try:
        settings = _settings(data_dir, database_url, host=host, http_port=http_port,
                             sip_port=sip_port, rtp_ports=PortRange.parse(rtp_ports))
    except ConfigError as exc:  # a bad port range or directory file, named
        raise _fail(str(exc)) from exc

    async def prepare() -> None:
        store = await build_store(settings)
        try:
            if config is not None:
                changes = await import_file(store, config)
                typer.echo(f"imported {config}: {_changes(changes)}")
        finally:
            await store.close()

    try:
        asyncio.run(prepare())
    except ConfigError as exc:
        raise _fail(str(exc)) from exc

    _run_node(settings)


def _changes(changes: dict[str, int]) -> str:
    if not changes:
        return "nothing changed"
    return ", ".join(f"{count} {kind}" for kind, count in changes.items()) + " changed"


@app.command()
def migrate(data_dir: DataDir = Path("parley-data"), database_url: DatabaseUrl = None) -> None:
    """Bring the database schema up to date (also done at every start)."""
    import asyncio

    from parley.store import build_store
    from parley.store.database import current_revision

    async def run() -> str | None:
        store = await build_store(_settings(data_dir, database_url))
        try:
            return await current_revision(store.engine)
        finally:
            await store.close()

    typer.echo(f"database schema at revision {asyncio.run(run())}")


reports_app = typer.Typer(help="Reports and their interval aggregates.",
                          no_args_is_help=True)
app.add_typer(reports_app, name="reports")


@reports_app.command("rebuild")
def reports_rebuild(data_dir: DataDir = Path("parley-data"),
                    database_url: DatabaseUrl = None) -> None:
    """Build the reports' interval aggregates again from the call records, campaign attempts
    and operator state log (after an upgrade, or after changing the short-abandon or a
    queue's service-level threshold, to restate the past with it)."""
    import asyncio

    from parley.store import build_store

    async def run() -> tuple[int, int, int]:
        store = await build_store(_settings(data_dir, database_url))
        try:
            return await store.reports.rebuild()
        finally:
            await store.close()

    calls, attempts, states = asyncio.run(run())
    typer.echo(f"aggregates rebuilt from {calls} calls, {attempts} campaign attempts and "
               f"{states} operator state changes")


user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name (letters, digits, _.@-).")],
    role: Annotated[list[str] | None, typer.Option(
        help="agent, supervisor or admin; repeat for several.")] = None,
    password: Annotated[str | None, typer.Option(
        envvar="PARLEY_PASSWORD", help="Login password (asked for when not given).")] = None,
    display_name: Annotated[str, typer.Option(help="Name shown in the UI.")] = "",
    token: Annotated[bool, typer.Option(help="Also create and print an API token.")] = False,
    data_dir: DataDir = Path("parley-data"),
    database_url: DatabaseUrl = None,
) -> None:
    """Create a user, or update the roles and password of an existing one."""
    import asyncio

    from pydantic import ValidationError

    from parley.store import build_store
    from parley.store.specs import UserSpec

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        spec = UserSpec.model_validate({"username": username, "roles": role or ["agent"],
                                        "password": password, "display_name": display_name})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise _fail(f"{field}: {first['msg']}") from exc

    async def run() -> str | None:
        store = await build_store(_settings(data_dir, database_url))
        try:
            existing = await store.config.get("users", username)
            if isinstance(existing, UserSpec):
                spec.skills, spec.teams = existing.skills, existing.teams
                spec.extension = existing.extension
            await store.config.put("users", spec)
            await store.audit.record(store.clock.utcnow(), "cli", "update" if existing else
                                     "create", "users", username, {"roles": spec.roles})
            if token:
                issued, _ = await store.accounts.create_token(username, "cli",
                                                              store.clock.utcnow())
                return issued
            return None
        finally:
            await store.close()

    issued = asyncio.run(run())
    typer.echo(f"user {username} saved with roles {', '.join(spec.roles)}")
    if issued:
        typer.echo(f"API token (shown once): {issued}")


@app.command("import")
def import_config(
    file: Annotated[Path, typer.Argument(help="Provisioning YAML file.")],
    data_dir: DataDir = Path("parley-data"),
    database_url: DatabaseUrl = None,
) -> None:
    """Create or update the configuration from a provisioning YAML document."""
    import asyncio

    from parley.center.config import load_center_config
    from parley.provisioning import import_file
    from parley.store import build_store

    async def run() -> tuple[dict[str, int], dict[str, str]]:
        store = await build_store(_settings(data_dir, database_url))
        try:
            changes = await import_file(store, file)
            await store.audit.record(store.clock.utcnow(), "cli", "import", "config",
                                     str(file), {"changes": changes})
            return changes, (await load_center_config(store)).flow_errors()
        finally:
            await store.close()

    try:
        changes, broken = asyncio.run(run())
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"imported {file}: {_changes(changes)}")
    for name, errors in broken.items():  # stored, but a node keeps serving what it had
        typer.echo(f"warning: flow {name!r} is stored but will not go live until it is "
                   f"fixed: {errors}", err=True)


@app.command("export")
def export_config(
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to this file instead of standard output.")] = None,
    data_dir: DataDir = Path("parley-data"),
    database_url: DatabaseUrl = None,
) -> None:
    """Print the whole configuration as a provisioning YAML document."""
    import asyncio

    from parley.provisioning import export_text
    from parley.store import build_store

    async def run() -> str:
        store = await build_store(_settings(data_dir, database_url))
        try:
            return await export_text(store)
        finally:
            await store.close()

    text = asyncio.run(run())
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@app.command("simulate-outbound")
def simulate_outbound(
    agents: Annotated[int, typer.Option(help="Operators on the campaign, all logged in.")],
    contact_rate: Annotated[float, typer.Option(
        help="Live (human) answers per dial, e.g. 0.25.")],
    talk: Annotated[float, typer.Option(help="Mean talk time in seconds (exponential).")],
    wrap: Annotated[float, typer.Option(help="Mean wrap-up time in seconds.")],
    mode: Annotated[str, typer.Option(
        help="preview, progressive, predictive or agentless.")],
    hours: Annotated[float, typer.Option(help="Simulated hours.")],
    seed: Annotated[int, typer.Option(help="Random seed.")],
    abandon_cap: Annotated[float, typer.Option(
        help="Abandon-rate cap (abandoned over live answers).")] = 0.03,
    amd_accuracy: Annotated[float, typer.Option(
        help="Answering-machine detection accuracy, 0 to 1.")] = 0.95,
    detect_machine: Annotated[bool, typer.Option(
        help="Whether the campaign listens for answering machines.")] = True,
    machine_share: Annotated[float, typer.Option(
        help="Share of the calls not answered by a person that reach a machine.")] = 0.3,
    answer_delay: Annotated[float, typer.Option(
        help="Mean ring time in seconds before an answer (log-normal).")] = 10.0,
    ring_timeout: Annotated[float, typer.Option(
        help="Seconds an unanswered call rings before it is given up.")] = 25.0,
    patience: Annotated[float, typer.Option(
        help="Mean seconds an answered person waits for an operator before hanging up.")] = 6.0,
    initial_talk: Annotated[float | None, typer.Option(
        help="The talk time the dialer assumes until it has measured (default: --talk; a "
             "live campaign assumes 120).")] = None,
    initial_wrap: Annotated[float | None, typer.Option(
        help="The wrap-up time the dialer assumes until it has measured (default: --wrap; a "
             "live campaign assumes 15).")] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object with the totals.")] = False,
) -> None:
    """Simulate an outbound campaign on a virtual clock, driving the real dialer."""
    import json

    from parley.dialer.model import DialerError, DialMode
    from parley.sim.outbound import OutboundParams
    from parley.sim.outbound import simulate_outbound as run_outbound

    try:
        try:
            dial_mode = DialMode(mode)
        except ValueError:
            raise DialerError(f"--mode {mode!r}: choose preview, progressive, predictive or "
                              "agentless") from None
        params = OutboundParams(agents=agents, mode=dial_mode, contact_rate=contact_rate,
                                talk_s=talk, wrap_s=wrap, hours=hours, seed=seed,
                                abandon_cap=abandon_cap, amd_accuracy=amd_accuracy,
                                detect_machine=detect_machine, machine_share=machine_share,
                                answer_delay_s=answer_delay, ring_timeout_s=ring_timeout,
                                patience_s=patience, initial_talk_s=initial_talk,
                                initial_wrap_s=initial_wrap)
        result = run_outbound(params)
    except DialerError as exc:
        raise _fail(str(exc)) from exc
    if json_output:
        typer.echo(json.dumps(result.as_dict()))
        return
    for key, value in result.as_dict().items():
        typer.echo(f"{key:32} {value}")


@app.command("amd-score")
def amd_score(
    recordings: Annotated[Path, typer.Argument(
        help="A folder with human/ and machine/ (and optionally silence/) subfolders of WAV "
             "files, or a CSV of file,label (paths relative to the CSV).")],
    setting: Annotated[list[str] | None, typer.Option(
        "--set", help="Try a detector setting, e.g. --set greeting=2000 (amd.conf names; "
                      "repeat for more).")] = None,
    quiet: Annotated[bool, typer.Option(
        help="Print only the mistakes, not every file's verdict.")] = False,
) -> None:
    """Score the answering-machine detector on a site's own labelled recordings: each
    file's verdict, the confusion matrix and the accuracy. Files that cannot be used are
    named with the reason and the rest is scored; the exit code is 1 if any was left out."""
    import dataclasses

    from parley.media import MediaError
    from parley.media.amd import AmdSettings
    from parley.media.amd_score import load_labelled, score

    names = {f.name for f in dataclasses.fields(AmdSettings)}
    overrides: dict[str, int] = {}
    for item in setting or []:
        name, _, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if name not in names or not value.strip().lstrip("-").isdigit():
            raise _fail(f"--set {item!r}: write name=number with a name among "
                        f"{', '.join(sorted(names))}")
        overrides[name] = int(value)
    try:
        settings = AmdSettings(**overrides)
        found, problems = load_labelled(recordings)
        result = score(found, settings)
    except MediaError as exc:
        raise _fail(str(exc)) from exc
    for problem in problems:
        typer.secho(f"skipped: {problem}", err=True, fg=typer.colors.YELLOW)
    if not found:
        raise _fail(f"{recordings}: no recording could be scored")
    for scored in result.results:
        if quiet and scored.correct:
            continue
        mark = "ok   " if scored.correct else "WRONG"
        typer.echo(f"{mark} {scored.name}: {scored.label} -> {scored.verdict.result} "
                   f"({scored.verdict.cause}, after {scored.verdict.after_ms} ms)")
    typer.echo("")
    for line in result.report():
        typer.echo(line)
    if problems:
        typer.echo(f"{len(problems)} files left out (see above)")
        raise typer.Exit(code=1)


def main() -> None:
    """Console-script entry point."""
    app()
