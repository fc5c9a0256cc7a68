"""``cronplane delete job NAME``: remove an API-owned job's manifest (the controller then prunes it).

Jobs from git or directory sources are deleted where they are defined; this refuses them,
naming their file.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from controller.api.service import ApiError, Service
from controller.commands.common import job_key, reads, redis_url_arg
from controller.errors import PermanentError
from controller.sources.owned import OwnedDir


def register(sub: Any) -> None:
    p = sub.add_parser("delete", help="delete an API-owned job (its manifest in the API directory)")
    p.add_argument("kind", choices=("job",))
    p.add_argument("name", metavar="NAME", help="collection/name, or a name in the default collection")
    p.add_argument("--api-dir", default=os.environ.get("CRONPLANE_API_DIR", "api-manifests"), help="$CRONPLANE_API_DIR")
    redis_url_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    key = job_key(args.name)
    r = reads(args)
    service = Service(r.r, r.settings, OwnedDir(args.api_dir))
    collection, name = key.split("/", 1)
    try:
        service.delete_job(collection, name)
    except ApiError as e:
        raise PermanentError(e.message) from None
    print(f"job {key} deleted (its manifest is gone; the controller removes it on its next pass)")
    return 0
