"""Modal's code location: the entry module in /root, the working directory, so an app's own check
that a file sits next to it (`Path(__file__).parent / "app.py"`, as the Streamlit example does)
holds in containers once the image places the file in /root."""

import os
from pathlib import Path

import modal

NOTE = Path(__file__).parent / "modal_examples_assets" / "note.txt"
if not NOTE.exists():  # runs on import here and in every container
    raise RuntimeError(f"{NOTE} not found! Place it next to the app")

image = modal.Image.debian_slim().add_local_file(NOTE, "/root/modal_examples_assets/note.txt")
app = modal.App("modal-examples-root", image=image)


@app.function()
def where() -> list[str]:
    task = os.environ["MODAL_TASK_ID"][:3] + os.environ["MODAL_IS_REMOTE"]  # Modal's variables
    here = str(Path("modal_examples_assets/note.txt").exists())  # relative to the cwd, /root
    return [__file__, os.getcwd(), NOTE.read_text().strip(), here, task]


@app.local_entrypoint()
def main() -> None:
    print("where", where.remote())
