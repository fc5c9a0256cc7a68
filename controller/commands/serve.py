"""``cronplane serve``: the REST API, the dashboard, /metrics and the health probes (uvicorn).

``--api-dir`` is the API-owned manifests directory (the controller must read it too:
``cronplane controller --manifests manifests --manifests <api-dir>``); ``--manifests`` names the
controller's other sources, read-only here, so that a PUT is validated against the whole desired
state and a job defined there answers 409 naming its file.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from controller.api.auth import Tokens, check_bind
from controller.api.limits import Limits
from controller.commands.common import redis_url, redis_url_arg, require_listen, tcp_port
from controller.errors import UsageError

DEFAULT_API_DIR = os.environ.get("CRONPLANE_API_DIR", "api-manifests")
API_REDIS_TIMEOUT = 5.0  # seconds per Redis reply


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve the REST API (Azure-shaped), the dashboard and /metrics")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1; others need tokens)")
    p.add_argument("--port", type=tcp_port, default=8080, help="port (default 8080)")
    p.add_argument("--api-dir", default=DEFAULT_API_DIR, help="API-owned manifests directory ($CRONPLANE_API_DIR)")
    p.add_argument("--manifests", action="append", default=[], metavar="PATH", help="the controller's other sources")
    p.add_argument("--rate", type=float, default=50.0, help="requests per second per client (default 50)")
    p.add_argument("--burst", type=float, default=200.0, help="burst size per client (default 200)")
    p.add_argument("--max-body", type=int, default=64 * 1024, help="largest request body in bytes (default 65536)")
    redis_url_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from controller.api.app import create_app
    from controller.api.service import Service
    from controller.observability import register_redis
    from controller.runtime import connect
    from controller.settings import ControllerSettings
    from controller.sources.owned import OwnedDir

    if args.rate <= 0 or args.burst < 1 or args.max_body < 1024:
        raise UsageError("--rate must be > 0, --burst ≥ 1 and --max-body ≥ 1024")
    tokens = Tokens.from_env()
    check_bind(args.host, tokens)
    settings = ControllerSettings.from_env(redis_url=redis_url(args))
    client = connect(settings, timeout=API_REDIS_TIMEOUT)  # a hung Redis: 503 after this, not a hang
    require_listen(args.host, args.port, "--port")  # before the banner: a busy port is one line
    owned = OwnedDir(args.api_dir)
    owned.root.mkdir(parents=True, exist_ok=True)
    register_redis(client, settings.keys, settings.queue)
    service = Service(client, settings, owned, args.manifests)
    app = create_app(service, tokens, Limits(args.max_body, args.rate, args.burst))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    print(f"cronplane API and dashboard on http://{args.host}:{args.port}/ (API-owned manifests in {owned.root})")
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        limit_concurrency=200,
        timeout_keep_alive=5,
        server_header=False,
    )
    return 0
