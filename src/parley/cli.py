"""The ``parley`` command. Each subcommand is a thin shell over the composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from parley import __version__
from parley.config import ConfigError, PortRange, Settings

app = typer.Typer(
    help="Parley: an open-source contact center.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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
    from parley import app as composition

    try:
        settings = Settings(host=host, sip_port=sip_port, http_port=http_port,
                            rtp_ports=PortRange.parse(rtp_ports), data_dir=data_dir)
        services = composition.build(settings, demo=True)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc

    def ready(running: composition.Services) -> None:
        for line in running.banner:
            typer.echo(line)
        typer.echo("Press Ctrl-C to stop.")

    composition.run(services, ready=ready)
    typer.echo("Parley stopped.")


@app.command("check-flows")
def check_flows(
    paths: Annotated[list[Path], typer.Argument(help="Flow files (YAML) or folders of them.")],
) -> None:
    """Validate IVR flow files; print every issue with file, line, node and field."""
    from parley.ivr.validator import validate_flow

    files = [p for path in paths for p in (sorted(path.glob("*.yaml")) if path.is_dir()
                                           else [path])]
    failed = False
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise _fail(f"cannot read {file}: {exc.strerror}") from exc
        result = validate_flow(text, str(file))
        for issue in result.issues:
            typer.echo(str(issue))
        failed = failed or not result.ok
        status = "ok" if result.ok else f"{len(result.errors)} error(s)"
        typer.echo(f"{file}: {status}")
    if failed:
        raise typer.Exit(code=1)


def main() -> None:
    """Console-script entry point."""
    app()
