"""Functions that report the call and input they run for."""

import gworker_client as gw

app = gw.App("context-app")


@app.function()
def whoami() -> tuple[str | None, str | None]:
    return gw.current_function_call_id(), gw.current_input_id()


@app.function()
@gw.concurrent(max_inputs=4)
async def whoami_async() -> tuple[str | None, str | None]:
    return gw.current_function_call_id(), gw.current_input_id()


@app.cls()
@gw.concurrent(max_inputs=4)
class Threads:
    @gw.method()
    def whoami(self) -> tuple[str | None, str | None]:  # a sync method on a worker thread
        return gw.current_function_call_id(), gw.current_input_id()
