import basic_app
def test_smoke(on_ray):
    with basic_app.app.run():
        assert basic_app.square.remote(7) == 49
    r = on_ray.gw("server", "status")
    print(r.stdout, r.stderr)
