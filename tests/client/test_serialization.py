from gworker_client import exception as exc
from gworker_client._serialization import (
    error_envelope,
    exception_envelope,
    exception_from_output,
    serialize,
)


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("no")


def test_user_exception_round_trips_with_traceback():
    try:
        raise KeyError("k")
    except KeyError as e:
        data = exception_envelope(e)
    err = exception_from_output("failure", data)
    assert isinstance(err, KeyError)
    assert isinstance(err.__cause__, exc.RemoteTraceback)
    assert "raise KeyError" in err.__cause__.tb


def test_unpicklable_exception_becomes_remote_error_naming_the_type():
    try:
        raise Unpicklable("bad")
    except Unpicklable as e:
        data = exception_envelope(e)
    err = exception_from_output("failure", data)
    assert isinstance(err, exc.RemoteError)
    assert "Unpicklable: bad" in str(err)


def test_server_statuses_map_to_gworker_exceptions():
    assert isinstance(
        exception_from_output("timeout", error_envelope("timeout", "t")), exc.FunctionTimeoutError
    )
    assert isinstance(
        exception_from_output("died", error_envelope("died", "d")), exc.ExecutionError
    )
    assert isinstance(
        exception_from_output("cancelled", error_envelope("cancelled", "c")), exc.InputCancellation
    )


def test_serialize_names_the_type():
    import threading

    try:
        serialize(threading.Lock())
    except exc.SerializationError as e:
        assert "_thread.lock" in str(e)
    else:
        raise AssertionError("expected SerializationError")
