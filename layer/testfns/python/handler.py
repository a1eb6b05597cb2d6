"""A Python function for the faultline layer's end-to-end tests, run by awslambdaric.

The event says what to do: "marker" (write that path first), "fail" (raise with that
message), "resolve" (a list of host names to look up with getaddrinfo; the answer says which
resolved), otherwise echo the event and what the runtime saw.
"""
import socket


class TestFailure(Exception):
    pass


def handler(event, context):
    if isinstance(event, dict) and event.get("marker"):
        with open(event["marker"], "w") as f:
            f.write(context.aws_request_id)
    if isinstance(event, dict) and event.get("fail"):
        raise TestFailure(event["fail"])
    if isinstance(event, dict) and "resolve" in event:
        out = {}
        for host in event["resolve"]:
            try:
                socket.getaddrinfo(host, 80)
                out[host] = "resolved"
            except socket.gaierror as e:
                out[host] = "failed: %s" % e
        return {"resolve": out}
    return {
        "event": event,
        "seen": {
            "request_id": context.aws_request_id,
            "invoked_function_arn": context.invoked_function_arn,
        },
    }
