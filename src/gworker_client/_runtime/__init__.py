"""What runs inside a container: fetch the app's code, import it, pull inputs, push outputs."""
