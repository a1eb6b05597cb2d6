"""moto_server, with DynamoDB's conditional writes atomic as they are in AWS.

moto's server answers each request on its own thread, and its DynamoDB backend checks a
ConditionExpression and then writes without a lock: two concurrent `UpdateItem`s conditional on
`state = open` can both succeed, which DynamoDB never allows (it is what faultline's close-once
and abort-once rest on). This wraps the backend's writes in one lock; everything else is
moto_server unchanged. Usage: the same arguments as moto_server (-H HOST -p PORT).
"""

import functools
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_WRITES = threading.RLock()


def _atomic(method):
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with _WRITES:
            return method(self, *args, **kwargs)

    return locked


for _name in ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"):
    if hasattr(DynamoDBBackend, _name):
        setattr(DynamoDBBackend, _name, _atomic(getattr(DynamoDBBackend, _name)))

if __name__ == "__main__":
    main(sys.argv[1:])
