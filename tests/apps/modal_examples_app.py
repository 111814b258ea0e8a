"""Patterns from Modal's public examples that an unmodified app relies on under `gw run`."""

import queue

import modal

app = modal.App("modal-examples-patterns")


# Modal's own `import modal` imports its submodules, so examples annotate with them after a bare
# `import modal`; the annotation is evaluated when the module is imported, here and in containers
def describe(p: modal.container_process.ContainerProcess) -> str:
    return type(p).__name__


@app.function()
def drain(q: modal.Queue) -> list[int]:
    # a crawler's loop: take batches until a blocking get times out with `queue.Empty`
    seen: list[int] = []
    while True:
        try:
            seen.extend(q.get_many(100, timeout=1))
        except queue.Empty:
            return seen


@app.function()
def write_note(vol: modal.Volume, text: str) -> list[str]:
    # mounts nothing itself: a pipeline stage gives it a volume with `with_options(volumes=...)`
    import os
    from pathlib import Path

    Path("/data/note.txt").write_text(text)
    vol.commit()
    return sorted(os.listdir("/data"))


@app.cls()
class Greeter:
    @modal.method()
    def hello(self, name: str) -> str:
        return f"hello {name}"


@app.local_entrypoint()
def main(label: str | None = None, count: int | None = None) -> None:
    with modal.Queue.ephemeral() as q:
        q.put_many(list(range(count or 3)))
        print("drained", drain.remote(q))
    print("label", label)
