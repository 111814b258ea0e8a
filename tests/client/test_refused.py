"""Modal names this version does not build load, and refuse clearly when used."""

from __future__ import annotations

import pytest

import gworker_client as gw


@pytest.mark.parametrize(
    ("use", "message"),
    [
        (lambda: gw.CloudBucketMount("bucket"), r"CloudBucketMount\(...\) .*gw.Volume"),
    ],
)
def test_unbuilt_modal_names_refuse_naming_what_to_use(use, message):
    with pytest.raises(gw.exception.InvalidError, match=message):
        use()
