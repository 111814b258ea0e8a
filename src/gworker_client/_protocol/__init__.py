"""Wire protocol shared by the SDK, the server, the container runtime and the backends."""
