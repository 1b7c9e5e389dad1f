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


def main() -> None:
    """Console-script entry point."""
    app()
