"""The local cloud's server: ``python -m twin.moto_server -H host -p port`` is moto's server with
one fix, so the key table's transactions stay fast as the table grows.

moto 5's TransactWriteItems deep-copies the whole table once per item of the transaction, for its
rollback, before it applies any: the scrubber's 100-item transactions on a key table of n items
cost 100 copies of n items. From a few thousand subjects on (a second ``make run`` on the same
local cloud), one takes longer than the key store's 5 s read timeout; botocore retries it while
the first is still copying, the two collide in moto's threads ("dictionary changed size during
iteration", a 500), and the scrubber's invocation fails: its whole batch was quarantined. Here the
copies, all of the same state, are made once per table and transaction, and transactions run one
at a time; moto's semantics stay the same (tests/unit/keystore/conftest.py does the same in
process).

And moto's instance tracking is turned off: it holds every model instance ever made (each copy
of the table too), so the server's memory grew without bound from run to run.
"""

from __future__ import annotations

import copy
import sys
import threading
import types

from moto import server
from moto.core.common_models import BaseModel
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

_original = DynamoDBBackend.transact_write_items
_lock = threading.Lock()


def transact_write_items(self, transact_items):
    snapshots: dict[int, Table] = {}

    def deepcopy(obj, memo=None):
        if isinstance(obj, Table):
            if id(obj) not in snapshots:
                snapshots[id(obj)] = copy.deepcopy(obj, memo)
            return snapshots[id(obj)]
        return copy.deepcopy(obj, memo)

    with _lock:  # the module's ``copy`` is swapped for the call: one transaction at a time
        saved = dynamodb_models.copy
        dynamodb_models.copy = types.SimpleNamespace(deepcopy=deepcopy)
        try:
            return _original(self, transact_items)
        finally:
            dynamodb_models.copy = saved


def _untracked_new(cls, *_args, **_kwargs):
    return object.__new__(cls)


def install() -> None:
    DynamoDBBackend.transact_write_items = transact_write_items
    # moto appends every model instance it ever makes to a class-wide list, for its dashboard
    # (/moto-api/data.json, which the twin does not use), and never lets go: with the table copies
    # above, the server grew by hundreds of MB per `make run`, and by more each time. Untracked,
    # an instance lives as long as the state that holds it.
    BaseModel.__new__ = staticmethod(_untracked_new)


if __name__ == "__main__":
    install()
    server.main(sys.argv[1:])
