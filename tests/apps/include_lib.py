"""An app in its own module, included by include_main.py's app."""

import gworker_client as gw

lib = gw.App("include-lib")


@lib.function()
def triple(x: int) -> int:
    return 3 * x


@lib.function()
def where() -> bool:
    return gw.is_local()


@lib.function()
def try_interact() -> str:
    try:
        gw.interact()
    except gw.exception.InvalidError as e:
        return str(e)
    return "no error"
