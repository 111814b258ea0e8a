"""Images travel: exported as layer archives into a blob store, unpacked into a fresh store on
"another machine" (another GW_HOME) and run there without a build."""

from __future__ import annotations

from gworker.images import ImageBuilder, transfer
from gworker_client._image import Image


def _bake() -> None:
    import pathlib

    pathlib.Path("/models").mkdir()
    pathlib.Path("/models/w.txt").write_text("baked")


def test_export_then_import_into_a_fresh_store_runs_without_building(
    builds, tmp_path, uv_cache, run_python
):
    image = (
        Image.debian_slim()
        .pip_install("six")
        .run_function(_bake)
        .run_commands("rm -rf /usr/share/doc && mkdir /usr/share/doc && touch /usr/share/doc/new")
        .env({"MODE": "moved"})
    )
    built, _ = builds.build(image)
    blobs = tmp_path / "blobs"
    manifest = transfer.export(builds.builder.store, built.key, transfer.blob_dir_put(blobs))
    assert [ref.digest for ref in manifest.layers] == list(built.layers)
    assert transfer.Manifest.from_json(manifest.to_json()) == manifest

    other = ImageBuilder(tmp_path / "other-home", builds.fetch, uv_cache=uv_cache)
    record = transfer.ensure_local(other.store, manifest, transfer.blob_dir_fetch(blobs))
    moved = other.from_record(record, image.to_spec())
    assert moved.layers == built.layers and moved.layers_dir != built.layers_dir
    code = (
        "import os, six; print(open('/models/w.txt').read(), os.environ['MODE'],"
        " sorted(os.listdir('/usr/share/doc')))"
    )
    out = run_python(moved, code)
    # the whiteouts and the opaque directory came across: the base's docs stay deleted
    assert out.stdout.strip() == "baked moved ['new']", out.stderr
    again = transfer.ensure_local(other.store, manifest, _refuse)  # nothing left to fetch
    assert again == record


def _refuse(sha: str, dest) -> None:
    raise AssertionError(f"fetched {sha} again")
