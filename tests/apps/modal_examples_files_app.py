"""Local files placed in the image by paths relative to the app's file, as Modal's examples do
(`Path(__file__).parent / "app.py"`): the container re-imports this module where they are not."""

from pathlib import Path

import modal

HERE = Path(__file__).parent
image = (
    modal.Image.debian_slim()
    .add_local_file(HERE / "modal_examples_assets" / "note.txt", "/assets/note.txt")
    .add_local_dir(HERE / "modal_examples_assets", "/assets/dir")
)
app = modal.App("modal-examples-files", image=image)


@app.function()
def read_assets() -> list[str]:
    return [Path(p).read_text().strip() for p in ("/assets/note.txt", "/assets/dir/note.txt")]


@app.local_entrypoint()
def main() -> None:
    print("assets", read_assets.remote())
