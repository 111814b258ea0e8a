import gworker_client as gw
from gworker_client import exception


def test_all_is_sorted_and_exported():
    assert gw.__all__ == sorted(gw.__all__)
    for name in gw.__all__:
        assert hasattr(gw, name)


def test_every_exception_derives_from_the_root_except_cancellation():
    for name in exception.__all__:
        cls = getattr(exception, name)
        if name in ("InputCancellation", "RemoteTraceback"):
            assert not issubclass(cls, exception.Error)
        else:
            assert issubclass(cls, exception.Error)
    assert issubclass(exception.InputCancellation, BaseException)
    assert not issubclass(exception.InputCancellation, Exception)
