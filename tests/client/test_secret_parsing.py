"""Secret constructors, dotenv parsing, volume paths and the secrets=/volumes= options."""

from __future__ import annotations

import pytest

import gworker_client as gw
from gworker_client._secret import key_problem, parse_dotenv
from gworker_client._volume import normalize, path_problem

InvalidError = gw.exception.InvalidError


def test_dotenv_syntax():
    text = (
        "# a comment\n"
        "\n"
        "PLAIN=value\n"
        "export EXPORTED = two words   # trailing comment\n"
        "HASH=a#b\n"
        "EMPTY=\n"
        "SINGLE='lit $X \\n'\n"
        'DOUBLE="say \\"hi\\"\\nnext"  # ok\n'
        'MULTI="line one\n'
        'line two"\n'
        "CRLF=windows\r\n"
        "  INDENTED=yes\n"
    )
    assert parse_dotenv(text) == {
        "PLAIN": "value",
        "EXPORTED": "two words",
        "HASH": "a#b",
        "EMPTY": "",
        "SINGLE": "lit $X \\n",
        "DOUBLE": 'say "hi"\nnext',
        "MULTI": "line one\nline two",
        "CRLF": "windows",
        "INDENTED": "yes",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("OK=1\nno equals sign here\n", "line 2: expected KEY=VALUE"),
        ("1BAD=x\n", "line 1: secret key '1BAD' is not a valid"),
        ('A="never closed\nB=2\n', 'line 1: the value of A has no closing "'),
        ("A='x' junk-9f2\n", "line 1: unexpected text after the quoted value of A"),
    ],
)
def test_dotenv_errors_name_the_line_not_the_value(text, message):
    with pytest.raises(InvalidError, match=message) as info:
        parse_dotenv(text, "the.env")
    assert "the.env" in str(info.value) and "junk-9f2" not in str(info.value)


def test_key_names():
    assert key_problem("API_KEY") is None and key_problem("_x1") is None
    for bad in ("", "1A", "A-B", "A B", "A=B", 3):
        assert key_problem(bad)


def test_from_dict_checks_and_hides_values():
    s = gw.Secret.from_dict({"A": "hidden-41", "B": None})
    assert repr(s) == "Secret.from_dict(keys=['A'])" and "hidden" not in repr(s)
    with pytest.raises(InvalidError, match="value of secret key 'A' must be a string, not int"):
        gw.Secret.from_dict({"A": 1234567})
    with pytest.raises(InvalidError, match="'A-B' is not a valid"):
        gw.Secret.from_dict({"A-B": "x"})
    with pytest.raises(InvalidError, match="takes a dict"):
        gw.Secret.from_dict(["A=x"])  # type: ignore[arg-type]


def test_from_local_environ(monkeypatch):
    monkeypatch.setenv("GWT_ONE", "1")
    monkeypatch.delenv("GWT_MISSING_A", raising=False)
    monkeypatch.delenv("GWT_MISSING_B", raising=False)
    assert repr(gw.Secret.from_local_environ(["GWT_ONE"])) == (
        "Secret.from_local_environ(keys=['GWT_ONE'])"
    )
    with pytest.raises(InvalidError, match="GWT_MISSING_A, GWT_MISSING_B are not set"):
        gw.Secret.from_local_environ(["GWT_ONE", "GWT_MISSING_A", "GWT_MISSING_B"])
    with pytest.raises(InvalidError, match="list of variable names, not a string"):
        gw.Secret.from_local_environ("GWT_ONE")
    monkeypatch.setenv("GW_CONTAINER_ID", "ct-x")  # in a container the values arrived already
    assert repr(gw.Secret.from_local_environ(["GWT_MISSING_A"])).endswith("(keys=[])")


def test_from_dotenv_paths(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("A=1\n")
    (tmp_path / "other.env").write_text("B=2\n")
    monkeypatch.chdir(tmp_path)
    assert repr(gw.Secret.from_dotenv()) == "Secret.from_dotenv(keys=['A'])"
    assert repr(gw.Secret.from_dotenv(tmp_path)).endswith("(keys=['A'])")
    assert repr(gw.Secret.from_dotenv(tmp_path / "other.env")).endswith("(keys=['B'])")
    assert repr(gw.Secret.from_dotenv(filename="other.env")).endswith("(keys=['B'])")
    with pytest.raises(InvalidError, match="nothing.env' does not exist"):
        gw.Secret.from_dotenv(tmp_path / "sub", filename="nothing.env")


def test_from_name():
    assert repr(gw.Secret.from_name("db", required_keys=["PGPASSWORD"])) == (
        "Secret.from_name('db')"
    )
    with pytest.raises(InvalidError, match="secret name 'a b' is not valid"):
        gw.Secret.from_name("a b")
    with pytest.raises(InvalidError, match="not a string"):
        gw.Secret.from_name("db", required_keys="PGPASSWORD")


def test_volume_paths():
    assert normalize("/a//b/./c/") == "a/b/c"
    assert normalize("/", allow_root=True) == "" and normalize("", allow_root=True) == ""
    for bad in ("../x", "a/../b", ".."):
        with pytest.raises(InvalidError, match="'..'"):
            normalize(bad)
    with pytest.raises(InvalidError, match="root"):
        normalize("/")
    assert path_problem("a/b") is None
    for bad in ("/a", "a//b", "a/./b", "a/../b", "a\0b", 7):
        assert path_problem(bad)


def test_secrets_and_volumes_options_are_checked_at_decoration():
    app = gw.App("opts")
    vol = gw.Volume.from_name("v")
    cases = [
        ({"secrets": "x"}, "must be a list of gw.Secret"),
        ({"secrets": [{"A": "b"}]}, "is not a gw.Secret"),
        ({"volumes": ["/data"]}, "must be a dict of mount paths"),
        ({"volumes": {"data": vol}}, "must be an absolute path"),
        ({"volumes": {"/a/../b": vol}}, "normalized absolute path"),
        ({"volumes": {"/data/": vol}}, "normalized absolute path"),
        ({"volumes": {"/": vol}}, "normalized absolute path"),
        ({"volumes": {"/a": vol, "/a-b": vol, "/a/b": vol}}, "'/a/b' is inside '/a'"),
        ({"volumes": {"/data": object()}}, "is not a gw.Volume.*not supported"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InvalidError, match=message):
            app.function(**kwargs)
    with pytest.raises(InvalidError, match="App\\(secrets=...\\) must be a list"):
        gw.App("x", secrets="nope")


BASE, OWN = gw.Secret.from_dict({"A": "1"}), gw.Secret.from_dict({"A": "2"})
V1, V2, V3 = gw.Volume.from_name("v1"), gw.Volume.from_name("v2"), gw.Volume.from_name("v3")
defaults_app = gw.App("defaults", secrets=[BASE], volumes={"/data": V1, "/cache": V2})


@defaults_app.function(secrets=[OWN], volumes={"/data": V3})
def with_defaults():
    pass


def test_app_defaults_come_first_and_function_mounts_replace_them():
    assert with_defaults._options.secrets == (BASE, OWN)
    assert with_defaults._options.volumes == (("/cache", V2), ("/data", V3))
    # the spec before publish holds no secret or volume ids yet: App._publish resolves them
    spec = with_defaults._spec()
    assert spec.secrets == () and spec.volumes == ()
    with pytest.raises(InvalidError, match="'/data/x' is inside '/data'"):
        defaults_app.function(volumes={"/data/x": V3})
