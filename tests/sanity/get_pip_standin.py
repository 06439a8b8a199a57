"""Stand-in for the get-pip.py bootstrap script that ansible-test downloads.

ansible-test creates one virtual environment per sanity test and bootstraps pip into it with a
script fetched from ci-files.testing.ansible.com, which these machines cannot reach. ansible-test
looks for that script in ~/.ansible/test/cache first; `make sanity` puts this file there. It does
what ansible-test asks of the bootstrap: install the pinned pip (and the other listed packages)
into the running interpreter, here with ensurepip and then pip from PyPI.
"""
import subprocess
import sys

# get-pip.py's own switches; pip install does not know them.
OWN_SWITCHES = ("--no-setuptools", "--no-wheel")


def main():
    args = [a for a in sys.argv[1:] if a not in OWN_SWITCHES]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + args)


if __name__ == "__main__":
    main()
