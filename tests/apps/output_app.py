"""A function that prints, called in a loop that prints its results (output order)."""

import gworker_client as gw

app = gw.App("output-order")


@app.function()
def square(x: int) -> int:
    print(f"computing {x} in a container")
    return x * x


@app.function()
def squares(n: int):
    for x in range(n):
        print(f"yielding {x} in a container")
        yield x * x


@app.local_entrypoint()
def main(n: int = 10) -> None:
    for x in range(n):
        print("the square of", x, "is", square.remote(x))
    for x, y in enumerate(square.map(range(n))):
        print("mapped", x, "to", y)
    for x, y in enumerate(squares.remote_gen(n)):
        print("streamed", x, "as", y)
