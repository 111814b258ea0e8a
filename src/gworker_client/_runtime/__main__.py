from .._modal_import import install
from .container import main

install(announce=False)  # an unmodified Modal app's `import modal`, as under `gw run`
main()
