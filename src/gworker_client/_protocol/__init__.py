"""Records that cross a process boundary, shared by the SDK, the runtime and the server."""
