"""Functions in images, for the isolation and limits tests."""

import os
from pathlib import Path

import gworker_client as gw

HERE = Path(__file__).parent

app = gw.App("images")
with_six = gw.Image.debian_slim().pip_install("six==1.16.0")
with_files = (
    gw.Image.debian_slim()
    .add_local_file(HERE / "images_app.py", "/opt/app/copy_of_app.py")
    .env({"GREETING": "from the image"})
    .workdir("/opt/app")
)
volume = gw.Volume.from_name("images-test-volume", create_if_missing=True)


@app.function(image=with_six)
def six_version() -> str:
    import six

    return six.__version__


@app.function()
def can_import(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@app.function()
def exists(path: str) -> bool:
    return os.path.exists(path)


@app.function()
def write_tmp(name: str) -> str:
    Path("/tmp", name).write_text("private")
    return os.environ["HOME"]


@app.function(image=with_files)
def image_view() -> tuple[str, str, bool]:
    return os.getcwd(), os.environ["GREETING"], Path("/opt/app/copy_of_app.py").exists()


@app.function(memory=128)
def hog(mib: int) -> int:
    blocks = [bytearray(1024 * 1024) for _ in range(mib)]
    return len(blocks)


@app.function(volumes={"/data": volume})
def write_output(text: str) -> None:
    with open("/data/output.txt", "w") as f:
        f.write(text)
    volume.commit()
